"""AdamW parameter groups (Cutie / EVOLVE; DESIGN 4, evolve_authors_code.md 1.2).

Three groups: the image encoder (``pixel_encoder.*``: learning rate x backbone_lr_ratio; the
event encoder trains at the full rate, as the authors), the learned query embeddings
(``nn.Embedding`` weights: embed_weight_decay, 0 by default) and everything else.
"""

from __future__ import annotations

from torch import nn


def parameter_groups(network: nn.Module, lr: float, weight_decay: float, embed_weight_decay: float, backbone_lr_ratio: float) -> list[dict]:
    """Build AdamW parameter groups.

    Args:
        network: the EVOLVE network, or a module wrapping it (TrainWrapper, DDP): parameters are
            classified by name component (``pixel_encoder``) and module type (``nn.Embedding``).
        lr: base learning rate.
        weight_decay: weight decay of the backbone and the rest.
        embed_weight_decay: weight decay of the query embeddings.
        backbone_lr_ratio: learning-rate factor of the image encoder.
    Returns:
        list of dicts ``{"params", "lr", "weight_decay", "name"}`` (empty groups omitted); only
        parameters with ``requires_grad``; every such parameter appears exactly once.
    """
    embedding_ids = {id(m.weight) for m in network.modules() if isinstance(m, nn.Embedding)}
    backbone, embeddings, rest = [], [], []
    for name, p in network.named_parameters():
        if not p.requires_grad:
            continue
        if "pixel_encoder" in name.split("."):
            backbone.append(p)
        elif id(p) in embedding_ids:
            embeddings.append(p)
        else:
            rest.append(p)
    groups = [
        {"name": "backbone", "params": backbone, "lr": lr * backbone_lr_ratio, "weight_decay": weight_decay},
        {"name": "embeddings", "params": embeddings, "lr": lr, "weight_decay": embed_weight_decay},
        {"name": "rest", "params": rest, "lr": lr, "weight_decay": weight_decay},
    ]
    return [g for g in groups if g["params"]]
