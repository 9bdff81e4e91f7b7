"""LoRA fine-tuning (`--lora RANK`): peft adapters on the DiT's attention and MLP projections,
everything else frozen, and the adapter a run writes in diffusers' layout
(`final/pytorch_lora_weights.safetensors`, read back by `pipe.load_lora_weights`).

Why these modules: they hold the DiT's knowledge of what a caption means and how it looks
(self-attention, cross-attention to the text, the MLP); the embeddings, the adaLN tables and the
output layer stay the base model's, so an adapter cannot move the latent statistics it was
trained on. Alpha equals the rank (scale 1), diffusers' default for an adapter with no alphas.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

# every Linear of a DiT block: self-attention, cross-attention (queries from the video, keys and
# values from the text) and the MLP
TARGETS = ("attn.qkv", "attn.out", "cross.q", "cross.kv", "cross.out", "mlp.fc1", "mlp.fc2")
# stored like the bundled DiT's weights (fp16): rank 8 is 4% of its file, rank 16 would be 8%
ADAPTER_DTYPE = torch.float16


def lora_config(rank: int) -> dict:
    """peft `LoraConfig` fields of a run's adapter (saved in the adapter file's metadata)."""
    return {"r": int(rank), "lora_alpha": int(rank), "target_modules": list(TARGETS)}


def add_lora(model: nn.Module, rank: int) -> nn.Module:
    """Attach a fresh adapter (B = 0: the model's output is unchanged) and freeze the rest."""
    from peft import LoraConfig

    model.add_adapter(LoraConfig(**lora_config(rank)))  # peft marks only the adapter trainable
    return model


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors under diffusers' keys (`blocks.0.attn.qkv.lora_A.weight`), fp16."""
    from peft import get_peft_model_state_dict

    return {k: v.to(ADAPTER_DTYPE) for k, v in get_peft_model_state_dict(model).items()}


def save_adapter(
    folder: str | os.PathLike, model: nn.Module, rank: int, captions: list[str] | None = None
) -> Path:
    """`folder/pytorch_lora_weights.safetensors` of `model`'s adapter, with the content words
    of its training `captions` (what `pipe.vocabulary` learns on loading); returns the file."""
    from chronotope.pipeline.lora import LoraMixin
    from chronotope.pipeline.vocabulary import vocabulary_of

    words = vocabulary_of(captions) if captions else None
    return LoraMixin.save_lora_weights(folder, adapter_state(model), lora_config(rank), words)
