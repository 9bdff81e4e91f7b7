"""LoRA adapters on the pipeline's DiT, used as in diffusers: `pipe.load_lora_weights(PATH,
adapter_name=...)`, `pipe.set_adapters(names, weights)`, `pipe.fuse_lora()` / `unfuse_lora()`,
`pipe.unload_lora_weights()` (diffusers' `LoraBaseMixin` over the DiT's `PeftAdapterMixin`).

An adapter is diffusers' LoRA layout: one safetensors file, `pytorch_lora_weights.safetensors`,
of `transformer.<module>.lora_A.weight` (rank, in) and `...lora_B.weight` (out, rank) per adapted
Linear, with peft's LoRA config in the file's metadata (`lora_adapter_metadata`). It is read only
as safetensors (a pickle is refused, naming the file) and checked against this DiT before
anything is attached: every module it names must be a Linear of this DiT with the adapter's
input and output widths, else it was made for another base and is refused in one line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from diffusers.loaders.lora_base import LORA_ADAPTER_METADATA_KEY, LoraBaseMixin
from torch import nn

from chronotope.errors import CorruptFileError, UsageError
from chronotope.utils.checkpoint import atomic_save_safetensors, load_safetensors
from chronotope.utils.weights import PICKLE_SUFFIXES

ADAPTER_FILE = "pytorch_lora_weights.safetensors"  # diffusers' LORA_WEIGHT_NAME_SAFE
PREFIX = "transformer"
# the content words of the adapter's training captions (pipeline/vocabulary.py): a loaded
# adapter adds them to the model's vocabulary, so "pink" no longer warns once it is taught
VOCABULARY_KEY = "chronotope_vocabulary"
_KEY = re.compile(rf"^{PREFIX}\.(.+)\.lora_([AB])\.weight$")

AdapterState = dict[str, torch.Tensor]


def adapter_file(path: str | os.PathLike) -> Path:
    """The adapter file named by `path`: the file itself, or `pytorch_lora_weights.safetensors`
    in the folder (or in its `final/`, a training run's folder)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise UsageError(f"{path}: no such LoRA adapter file or folder", param="lora")
    for folder in (path, path / "final"):
        if (folder / ADAPTER_FILE).is_file():
            return folder / ADAPTER_FILE
    pickled = sorted(p for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickled:
        raise CorruptFileError(
            f"{pickled[0]}: pickled weights are never loaded (an adapter folder needs "
            f"{ADAPTER_FILE})"
        )
    raise UsageError(f"{path}: no LoRA adapter ({ADAPTER_FILE}) in this folder", param="lora")


def read_adapter(path: str | os.PathLike) -> tuple[AdapterState, dict | None]:
    """(tensors, peft config or None) of an adapter file or folder; never unpickles."""
    file = adapter_file(path)
    state = load_safetensors(file)  # refuses a pickle (whatever its name), naming the file
    raw = _file_metadata(file).get(LORA_ADAPTER_METADATA_KEY)
    return state, json.loads(raw) if raw else None


def adapter_vocabulary(path: str | os.PathLike) -> frozenset[str]:
    """The words an adapter was taught (none when its file does not say)."""
    raw = _file_metadata(adapter_file(path)).get(VOCABULARY_KEY)
    return frozenset(json.loads(raw)) if raw else frozenset()


def _file_metadata(file: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return f.metadata() or {}


def write_adapter(
    folder: str | os.PathLike, state: AdapterState, config: dict,
    vocabulary: frozenset[str] | None = None,
) -> Path:  # fmt: skip
    """`folder/pytorch_lora_weights.safetensors` (written atomically), `state` keyed as in the
    file (`transformer.` prefixed), `config` peft's LoraConfig fields (unprefixed), and the
    words of its training captions (`vocabulary`) if known."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    packed = {f"{PREFIX}.{k}": v for k, v in config.items()}
    meta = {"format": "pt", LORA_ADAPTER_METADATA_KEY: json.dumps(packed, sort_keys=True)}
    if vocabulary:
        meta[VOCABULARY_KEY] = json.dumps(sorted(vocabulary))
    path = folder / ADAPTER_FILE
    atomic_save_safetensors(state, path, metadata=meta)
    return path


def check_adapter(state: AdapterState, transformer: nn.Module, source: str) -> None:
    """Refuse an adapter that does not fit `transformer`: a key outside diffusers' LoRA layout,
    a module this DiT lacks or that is not a Linear, or widths that differ (one line, naming
    the first mismatch)."""
    if not state:
        raise UsageError(f"{source}: the adapter holds no tensors", param="lora")
    modules = dict(transformer.named_modules())
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        m = _KEY.match(key)
        if m is None:
            raise UsageError(
                f"{source}: {key!r} is not a LoRA weight of a chronotope DiT "
                f"(expected '{PREFIX}.<module>.lora_A.weight' / '.lora_B.weight')",
                param="lora",
            )
        pairs.setdefault(m.group(1), {})[m.group(2)] = tensor
    for name, ab in sorted(pairs.items()):
        base = _linear(modules.get(name))
        if base is None:
            raise UsageError(
                f"{source} was made for another base: this DiT has no Linear {name!r}",
                param="lora",
            )
        if set(ab) != {"A", "B"} or ab["A"].ndim != 2 or ab["B"].ndim != 2:
            raise UsageError(f"{source}: {name} needs a 2-D lora_A and lora_B", param="lora")
        (rank, fan_in), (fan_out, rank_b) = ab["A"].shape, ab["B"].shape
        if rank != rank_b:
            raise UsageError(f"{source}: {name} has lora_A of rank {rank}, lora_B {rank_b}")
        if (fan_in, fan_out) != (base.in_features, base.out_features):
            raise UsageError(
                f"{source} was made for another base: {name} is {base.in_features}->"
                f"{base.out_features} here, the adapter's is {fan_in}->{fan_out}",
                param="lora",
            )


def parse_adapter(text: str) -> tuple[Path, float]:
    """`PATH[:WEIGHT]` (the CLI's `--lora`) -> (path, weight); the weight defaults to 1."""
    path, sep, weight = text.rpartition(":")
    if sep and path:
        try:
            return Path(path), float(weight)
        except ValueError:
            pass  # a ':' inside the path
    return Path(text), 1.0


def load_adapters(pipe, adapters: dict[str, tuple[str | os.PathLike, float]]) -> list[str]:
    """Load each `name: (path, weight)` into `pipe` and make them all active at their weights
    (their updates add up); returns the names. Nothing is loaded unless every file checks."""
    for path, _ in adapters.values():  # every file checked before any is attached
        check_adapter(read_adapter(path)[0], pipe.transformer, str(path))
    names = [
        pipe.load_lora_weights(path, adapter_name=name) for name, (path, _) in adapters.items()
    ]
    if names:
        pipe.set_adapters(names, [float(w) for _, w in adapters.values()])
    return names


def _linear(module: nn.Module | None) -> nn.Linear | None:
    """The Linear at a module path, seen through any adapter already wrapped around it."""
    get_base = getattr(module, "get_base_layer", None)
    if get_base is not None:
        module = get_base()
    return module if isinstance(module, nn.Linear) else None


class LoraMixin(LoraBaseMixin):
    """diffusers' LoRA loader API on a pipeline with one adaptable component, `transformer`.
    `set_adapters`, `disable_lora` / `enable_lora`, `delete_adapters`, `get_active_adapters`,
    `unload_lora_weights` come from diffusers' `LoraBaseMixin` unchanged."""

    _lora_loadable_modules = ["transformer"]
    transformer_name = PREFIX

    @classmethod
    def lora_state_dict(
        cls, pretrained_model_name_or_path_or_dict, return_lora_metadata: bool = False, **kwargs
    ):
        """The adapter's tensors (and with `return_lora_metadata` its peft config) from a file,
        a folder, or a dict of tensors; local files only, never a pickle."""
        if kwargs:
            raise UsageError(f"unknown argument(s) {', '.join(sorted(kwargs))}", param="lora")
        source = pretrained_model_name_or_path_or_dict
        if isinstance(source, dict):
            state, metadata = dict(source), None
        else:
            state, metadata = read_adapter(source)
        return (state, metadata) if return_lora_metadata else state

    def load_lora_weights(
        self, pretrained_model_name_or_path_or_dict, adapter_name: str | None = None, **kwargs
    ) -> str:
        """Attach an adapter (file, folder or dict of tensors) to the DiT under `adapter_name`
        (default: `default_0`, `default_1`, ...); it is active at weight 1 (`set_adapters`
        changes that). Returns the name."""
        source = pretrained_model_name_or_path_or_dict
        label = "the adapter" if isinstance(source, dict) else str(source)
        state, metadata = self.lora_state_dict(source, return_lora_metadata=True, **kwargs)
        check_adapter(state, self.transformer, label)
        loaded = set(getattr(self.transformer, "peft_config", {}))
        if adapter_name in loaded:
            raise UsageError(f"an adapter named {adapter_name!r} is already loaded", param="lora")
        if adapter_name is None:
            adapter_name = next(
                f"default_{i}" for i in range(len(loaded) + 1) if f"default_{i}" not in loaded
            )
        self.transformer.load_lora_adapter(
            state, prefix=PREFIX, adapter_name=adapter_name, metadata=metadata, _pipeline=self
        )
        if not isinstance(source, dict):
            self._learn_words(adapter_vocabulary(source))
        return adapter_name

    def _learn_words(self, words: frozenset[str]) -> None:
        """The model's declared vocabulary (`pipe.vocabulary`) grows by an adapter's words
        while adapters are loaded; `unload_lora_weights` restores it."""
        known = getattr(self, "_vocabulary", None)
        if known is None or not words:
            return
        if getattr(self, "_vocabulary_without_lora", None) is None:
            self._vocabulary_without_lora = known
        self._vocabulary = known | words

    def unload_lora_weights(self) -> None:
        super().unload_lora_weights()
        if getattr(self, "_vocabulary_without_lora", None) is not None:
            self._vocabulary, self._vocabulary_without_lora = self._vocabulary_without_lora, None

    @classmethod
    def save_lora_weights(
        cls, save_directory: str | os.PathLike, transformer_lora_layers: AdapterState,
        transformer_lora_adapter_metadata: dict | None = None,
        vocabulary: frozenset[str] | None = None,
    ) -> Path:  # fmt: skip
        """Write `transformer_lora_layers` (unprefixed peft keys: `get_peft_model_state_dict`
        of the DiT) as `save_directory/pytorch_lora_weights.safetensors`; `vocabulary`: the
        content words of its training captions."""
        state = {f"{PREFIX}.{k}": v for k, v in transformer_lora_layers.items()}
        config = transformer_lora_adapter_metadata or {}
        return write_adapter(save_directory, state, config, vocabulary)

    def fuse_lora(
        self, components: list[str] | None = None, lora_scale: float = 1.0,
        safe_fusing: bool = False, adapter_names: list[str] | None = None, **kwargs,
    ) -> None:  # fmt: skip
        """Merge the active adapters (or `adapter_names`) into the DiT's weights: sampling then
        costs what the base model costs; `unfuse_lora` subtracts them again."""
        super().fuse_lora(
            components=components or ["transformer"], lora_scale=lora_scale,
            safe_fusing=safe_fusing, adapter_names=adapter_names, **kwargs,
        )  # fmt: skip

    def unfuse_lora(self, components: list[str] | None = None, **kwargs) -> None:
        super().unfuse_lora(components=components or ["transformer"], **kwargs)
