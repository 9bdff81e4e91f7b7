"""LoRA adapters in the pipeline as diffusers uses them: adapters combine, an adapter of another
base or a pickled one is refused in one line, the server's engine picks one per job."""

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model_state_dict

from chronotope.cli.main import main
from chronotope.errors import CorruptFileError, UsageError
from chronotope.pipeline import ChronotopePipeline
from chronotope.pipeline.lora import (
    ADAPTER_FILE,
    adapter_vocabulary,
    load_adapters,
    parse_adapter,
)
from chronotope.serve import PipelineEngine
from chronotope.tasks.request import GenerationRequest
from chronotope.training.lora import TARGETS, lora_config


def tiny(width: int = 64, depth: int = 2) -> ChronotopePipeline:
    pipe = ChronotopePipeline.from_random(seed=0, width=width, depth=depth, heads=1, steps=2)
    pipe.autocast = False
    return pipe


def random_adapter(folder, *, width: int = 64, depth: int = 2, rank: int = 2, seed: int = 0):
    """An adapter with random A and B (a trained one's shape) for a DiT of `width` x `depth`."""
    torch.manual_seed(seed)
    dit = tiny(width, depth).transformer
    dit.add_adapter(LoraConfig(**lora_config(rank)))
    for name, p in dit.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(p, std=0.1)
    ChronotopePipeline.save_lora_weights(folder, get_peft_model_state_dict(dit), lora_config(rank))
    return folder


def frames(pipe) -> np.ndarray:
    return pipe("a red circle", width=16, height=16, num_frames=5, seed=1, candidates=1).frames


def test_adapters_combine_their_updates_add(tmp_path):
    pipe = tiny()
    a = random_adapter(tmp_path / "a", seed=1)
    b = random_adapter(tmp_path / "b", seed=2, rank=3)
    assert load_adapters(pipe, {"a": (a, 0.5), "b": (b, 2.0)}) == ["a", "b"]
    layer = pipe.transformer.blocks[1].mlp.fc1
    w = layer.get_base_layer().weight.detach().clone()
    delta = {n: layer.lora_B[n].weight @ layer.lora_A[n].weight for n in ("a", "b")}  # alpha = r
    pipe.fuse_lora()
    torch.testing.assert_close(layer.get_base_layer().weight, w + 0.5 * delta["a"] + 2 * delta["b"])
    pipe.unfuse_lora()
    torch.testing.assert_close(layer.get_base_layer().weight, w)
    assert sorted(pipe.get_active_adapters()) == ["a", "b"]


def test_an_adapter_for_another_base_is_refused_naming_the_mismatch(tmp_path):
    pipe = tiny()
    before = frames(pipe)
    narrow = random_adapter(tmp_path / "narrow", width=32)
    with pytest.raises(UsageError, match=r"another base: blocks.0.attn.out is 64->64 here, "
                       r"the adapter's is 32->32$"):  # fmt: skip
        pipe.load_lora_weights(narrow)
    deep = random_adapter(tmp_path / "deep", depth=3)
    with pytest.raises(UsageError, match=r"another base: this DiT has no Linear 'blocks.2"):
        pipe.load_lora_weights(deep)
    with pytest.raises(UsageError, match="not a LoRA weight"):
        pipe.load_lora_weights({"transformer.blocks.0.attn.qkv.weight": torch.zeros(192, 64)})
    # nothing of a refused adapter stays attached, and a batch with one bad file loads none
    good = random_adapter(tmp_path / "good")
    with pytest.raises(UsageError):
        load_adapters(pipe, {"good": (good, 1.0), "bad": (narrow, 1.0)})
    assert not getattr(pipe.transformer, "peft_config", {})
    assert np.array_equal(frames(pipe), before)


def test_a_pickled_adapter_is_refused_naming_the_file(tmp_path):
    pipe = tiny()
    folder = tmp_path / "pickled"
    folder.mkdir()
    torch.save({"transformer.blocks.0.attn.qkv.lora_A.weight": torch.zeros(2, 64)},
               folder / "pytorch_lora_weights.bin")  # fmt: skip
    with pytest.raises(CorruptFileError, match="pytorch_lora_weights.bin: pickled weights"):
        pipe.load_lora_weights(folder)
    disguised = tmp_path / "disguised"
    disguised.mkdir()
    (folder / "pytorch_lora_weights.bin").rename(disguised / ADAPTER_FILE)  # a pickle, renamed
    with pytest.raises(CorruptFileError, match=f"{ADAPTER_FILE}: not a safetensors file"):
        pipe.load_lora_weights(disguised)
    with pytest.raises(UsageError, match="no LoRA adapter"):
        pipe.load_lora_weights(tmp_path)


def test_the_engine_uses_the_jobs_adapter_and_the_base_model_otherwise(tmp_path):
    adapter = random_adapter(tmp_path / "a")
    plain, with_adapter = tiny(), tiny()
    with_adapter.load_lora_weights(adapter)
    engine = PipelineEngine(tiny(), lora={"pink": (adapter, 1.0)})
    request = GenerationRequest(prompt="a red circle", width=16, height=16, num_frames=5, seed=1)

    def run(model):
        return engine.generate(request, lambda step, total: None, model=model)[0]

    expect = {m: p.generate(request).frames for m, p in (("pink", with_adapter), (None, plain))}
    assert not np.array_equal(expect["pink"], expect[None])
    for model in ("pink", "chronotope", "sora-2", "pink", None):  # switching back and forth
        assert np.array_equal(run(model), expect["pink" if model == "pink" else None]), model


def test_the_lora_flags(tmp_path, capsys):
    assert parse_adapter("runs/x:0.5") == (tmp_path.__class__("runs/x"), 0.5)
    assert parse_adapter("runs/x") == (tmp_path.__class__("runs/x"), 1.0)
    assert parse_adapter("c:/a:b") == (tmp_path.__class__("c:/a:b"), 1.0)
    out = str(tmp_path / "o.mp4")
    for argv, says in (
        (["generate", "--prompt", "x", "--out", out, "--lora", str(tmp_path / "no")], "no such"),
        (["serve", "--lora", "pink"], "NAME=PATH"),
        (["serve", "--lora", f"chronotope={tmp_path}"], "no LoRA adapter"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err


def test_every_block_projection_is_adapted():
    dit = tiny().transformer
    dit.add_adapter(LoraConfig(**lora_config(2)))
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in dit.named_parameters() if ".lora_A." in n}
    assert adapted == {f"blocks.{b}.{m}" for b in range(2) for m in TARGETS}
    trainable = {n for n, p in dit.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in dit.named_parameters() if "lora_" in n}


def test_a_loaded_adapter_teaches_the_vocabulary_its_captions_named(tmp_path):
    pipe = ChronotopePipeline.from_random(seed=0, width=64, depth=2, heads=1,
                                          text={"vocabulary": ["red", "circle"]})  # fmt: skip
    dit = tiny().transformer
    dit.add_adapter(LoraConfig(**lora_config(2)))
    words = frozenset({"pink", "bar"})
    ChronotopePipeline.save_lora_weights(
        tmp_path, get_peft_model_state_dict(dit), lora_config(2), vocabulary=words
    )
    assert adapter_vocabulary(tmp_path) == words
    assert pipe.unknown_words("a pink bar and a red circle") == ["pink", "bar"]
    pipe.load_lora_weights(tmp_path)
    assert pipe.unknown_words("a pink bar and a red circle") == []
    pipe.unload_lora_weights()
    assert pipe.unknown_words("a pink bar") == ["pink", "bar"]
