"""open_clip models built the way their weights were trained.

OpenAI's CLIP weights were trained with QuickGELU, and open_clip records that on the tag
(`get_pretrained_cfg("ViT-B-32", "openai")["quick_gelu"]`). But open_clip 3.x builds the plain
`ViT-B-32` config with nn.GELU even for that tag and only warns ("QuickGELU mismatch"), a warning
a quiet console hides: every OpenAI CLIP score (and the LAION aesthetic head on ViT-L/14) would be
computed by a subtly different network. So the activation comes from the tag, and the mismatch
warning is an error here: if a later open_clip still disagrees, nothing is scored.
"""

from __future__ import annotations

import warnings


def trained_with_quick_gelu(arch: str, pretrained: str | None) -> bool:
    """What the tag says (False for no tag, or a checkpoint file, whose config says it itself)."""
    import open_clip

    return bool(pretrained and open_clip.get_pretrained_cfg(arch, pretrained).get("quick_gelu", False))


def create_clip(arch: str, pretrained: str | None, transforms: bool = False, checkpoint=None):
    """open_clip's model (and with `transforms`, its eval preprocessing) for arch + tag or file.

    `checkpoint`: the tag's weights file, resolved by the caller at a pinned commit (open_clip
    would read the hub's default branch); the activation and the preprocessing still come from
    the tag, exactly as open_clip sets them when it downloads the file itself."""
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    quick_gelu = trained_with_quick_gelu(arch, pretrained)
    kwargs = {"pretrained": pretrained, "force_quick_gelu": quick_gelu}
    if checkpoint is not None:
        kwargs.update(pretrained=str(checkpoint), force_preprocess_cfg=open_clip.get_pretrained_cfg(arch, pretrained))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="QuickGELU mismatch")
        model = open_clip.create_model(arch, **kwargs)
    if transforms:  # as create_model_and_transforms makes its eval transform
        return model, image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    return model
