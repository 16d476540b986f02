"""Stable Diffusion (UNet + VAE encoder) as a multi-scale perception backbone."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from vpd.registry import MODELS
from .cross_attention_map_processor import (AttentionMapStore,
                                            CrossAttentionMapProcessor)
from .sd_weights import ArchSpec, build_sd_models

_DTYPES = {'float32': torch.float32, 'float16': torch.float16,
           'bfloat16': torch.bfloat16}

TensorOrList = Union[torch.Tensor, Sequence[torch.Tensor]]


@MODELS.register_module()
class StableDiffusionBackbone(BaseModule):
    """The shared backbone of VPD and Meta Prompts, built on diffusers.

    Image -> frozen VAE encoder (``latent_dist.mode()``, no noise) -> UNet
    conditioned on encoder hidden states supplied by a separate conditioner
    -> multi-scale features taken from the UNet's up path.

    Features are the outputs of ldm ``output_blocks`` (``out_blocks``; by
    default 11, 7, 4 and 1, i.e. image strides 8, 16, 32, 64 with channels
    ``[320, 640, 1280, 1280]`` for SD1.5), finest first. They are captured by
    forward hooks only on those layers. The UNet's output conv is not built
    unless the recurrent mode needs it; the VAE decoder is never kept.

    Args:
        unet (str | dict): UNet architecture: preset ``'sd15'``, ``'sd21'``,
            ``'tiny'`` or a diffusers config dict (may name a ``preset`` and
            override keys). Defaults to ``'sd15'``.
        vae (str | dict): VAE architecture, as ``unet``. Defaults to
            ``'sd15'``.
        pretrained (str, optional): Local diffusers folder, an original
            single-file checkpoint (``.ckpt`` / ``.safetensors``), or a hub id
            when online. None: random initialisation. Defaults to None.
        timestep (int): The fixed timestep of the time embedding when no
            external time embedding is given (VPD: 1). Defaults to 1.
        use_time_embed (bool): Keep the UNet's ``time_embedding`` MLP. False
            for Meta Prompts, which feeds a learnable vector per loop where
            the time embedding goes. Defaults to True.
        scale_latents (bool): Multiply latents by the VAE scaling factor
            (0.18215). The references do not. Defaults to False.
        pad_to (int): Inputs are zero-padded (bottom/right, after
            normalisation) to a multiple of this. Defaults to 64.
        out_blocks (Sequence[int]): ldm output-block indices whose outputs
            form the pyramid, in output order. Defaults to (11, 7, 4, 1).
        attn_maps (dict, optional): Cross-attention map aggregation, e.g.
            ``dict(num_tokens=150, levels=(1, 2), blocks=('down', 'up'))``:
            record head-averaged cross-attention probabilities of the layers
            at the given latent levels (0 = latent resolution; 1 and 2 are
            image strides 16 and 32) in the given parts of the UNet, average
            them per level and concatenate them onto the pyramid level of the
            same resolution. ``detach`` (default True, as the reference)
            stores maps without gradient. None disables it. Defaults to None.
        num_loops (int): Recurrent refinement loops with shared weights (Meta
            Prompts). Loop i > 1 feeds the UNet's own output conv applied to
            the previous loop's finest feature back through ``conv_in``.
            Defaults to 1.
        crop_output (bool): Crop each feature to the unpadded input extent
            (``ceil(size / stride)``). Defaults to False (the reference crops
            after its neck).
        gradient_checkpointing (bool): diffusers gradient checkpointing of the
            UNet blocks. Defaults to False.
        freeze_unet (bool): Freeze the UNet too. Defaults to False.
        dtype (str): Storage dtype of the UNet and VAE (``'float32'``,
            ``'float16'``, ``'bfloat16'``). Use ``float32`` with AMP for
            training. Defaults to ``'float32'``.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 unet: ArchSpec = 'sd15',
                 vae: ArchSpec = 'sd15',
                 pretrained: Optional[str] = None,
                 timestep: int = 1,
                 use_time_embed: bool = True,
                 scale_latents: bool = False,
                 pad_to: int = 64,
                 out_blocks: Sequence[int] = (11, 7, 4, 1),
                 attn_maps: Optional[dict] = None,
                 num_loops: int = 1,
                 crop_output: bool = False,
                 gradient_checkpointing: bool = False,
                 freeze_unet: bool = False,
                 dtype: str = 'float32',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if dtype not in _DTYPES:
            raise ValueError(f'dtype must be one of {list(_DTYPES)}, got '
                             f'"{dtype}"')
        if num_loops < 1:
            raise ValueError(f'num_loops must be >= 1, got {num_loops}')
        unet_model, vae_model = build_sd_models(unet, vae, pretrained)
        self.timestep = int(timestep)
        self.use_time_embed = use_time_embed
        self.scale_latents = scale_latents
        self.pad_to = int(pad_to)
        self.num_loops = int(num_loops)
        self.crop_output = crop_output
        self.dtype = _DTYPES[dtype]

        # Frozen VAE encoder only (decoder not kept).
        del vae_model.decoder
        del vae_model.post_quant_conv
        vae_model.requires_grad_(False)
        vae_model.eval()
        self.vae = vae_model
        self.latent_scale = float(vae_model.config.scaling_factor)

        # UNet: drop what this backbone never runs.
        if self.num_loops == 1:
            del unet_model.conv_norm_out
            del unet_model.conv_out
        if not use_time_embed:
            del unet_model.time_embedding
        if gradient_checkpointing:
            unet_model.enable_gradient_checkpointing()
        if freeze_unet:
            unet_model.requires_grad_(False)
        self.unet = unet_model
        self.to(self.dtype)

        cfg = unet_model.config
        self.num_levels = len(cfg.block_out_channels)
        self.layers_per_block = cfg.layers_per_block
        self.time_embed_dim = cfg.block_out_channels[0] * 4
        self.context_dim = cfg.cross_attention_dim

        # Where each requested ldm output block is read from.
        self.out_blocks = tuple(int(j) for j in out_blocks)
        n_out = len(unet_model.up_blocks) * (self.layers_per_block + 1)
        self._taps: List[Tuple[int, int, int]] = []  # (block, layer, level)
        base_channels = []
        rev = list(reversed(cfg.block_out_channels))
        for j in self.out_blocks:
            if not 0 <= j < n_out:
                raise ValueError(f'out_blocks entry {j} out of range: the '
                                 f'UNet has {n_out} ldm output blocks')
            blk, layer = divmod(j, self.layers_per_block + 1)
            level = self.num_levels - 1 - blk
            up = unet_model.up_blocks[blk]
            if layer == self.layers_per_block and up.upsamplers is not None:
                level -= 1
            self._taps.append((blk, layer, level))
            base_channels.append(rev[blk])
        self._captured: Dict[int, torch.Tensor] = {}
        self._hook_handles = []
        for blk, layer, _ in self._taps:
            if layer == self.layers_per_block:
                continue  # the block's own output, returned by the loop
            up = unet_model.up_blocks[blk]
            attentions = getattr(up, 'attentions', None)
            target = attentions[layer] if attentions else up.resnets[layer]
            self._hook_handles.append(
                target.register_forward_hook(self._make_hook(blk)))

        # Cross-attention maps.
        self.attn_cfg = dict(attn_maps) if attn_maps else None
        self.attn_store: Optional[AttentionMapStore] = None
        extra = [0] * len(self.out_blocks)
        if self.attn_cfg is not None:
            num_tokens = int(self.attn_cfg['num_tokens'])
            levels = tuple(self.attn_cfg.get('levels', (1, 2)))
            blocks = tuple(self.attn_cfg.get('blocks', ('down', 'up')))
            self.attn_cfg.update(num_tokens=num_tokens, levels=levels,
                                 blocks=blocks)
            self.attn_store = AttentionMapStore(
                detach=self.attn_cfg.get('detach', True))
            self._install_attn_processors(levels, blocks)
            for i, (_, _, level) in enumerate(self._taps):
                if level in levels:
                    extra[i] = num_tokens
            missing = set(levels) - {t[2] for t in self._taps}
            if missing:
                raise ValueError(
                    f'attn_maps levels {sorted(missing)} have no pyramid '
                    f'level of the same resolution among out_blocks '
                    f'{self.out_blocks}')
        self.out_channels = [c + e for c, e in zip(base_channels, extra)]
        self.out_strides = [8 * 2**t[2] for t in self._taps]

    # ------------------------------------------------------------------
    def _make_hook(self, blk: int):
        # The hook holds the dict, not the backbone: a hook on a submodule
        # that refers back to the backbone is a reference cycle, and a
        # dropped backbone (3.5 GB for SD1.5) would then stay in memory
        # until Python's cycle collector happens to run.
        captured = self._captured

        def hook(module, args, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            elif hasattr(output, 'sample'):
                output = output.sample
            captured[blk] = output

        return hook

    def _install_attn_processors(self, levels: Tuple[int, ...],
                                 blocks: Tuple[str, ...]) -> None:
        """Give the selected cross-attention layers a recording processor."""
        from diffusers.models.attention_processor import AttnProcessor2_0
        procs = {}
        n = self.num_levels
        for name in self.unet.attn_processors:
            proc = AttnProcessor2_0()
            if name.endswith('attn2.processor'):
                part, level = None, None
                if name.startswith('down_blocks.'):
                    part, level = 'down', int(name.split('.')[1])
                elif name.startswith('up_blocks.'):
                    part, level = 'up', n - 1 - int(name.split('.')[1])
                elif name.startswith('mid_block.'):
                    part, level = 'mid', n - 1
                if part in blocks and level in levels:
                    proc = CrossAttentionMapProcessor(self.attn_store, level)
            procs[name] = proc
        self.unet.set_attn_processor(procs)

    def output_shape(self) -> List[Dict[str, int]]:
        """Channels and image stride of each pyramid level, finest first."""
        return [dict(channels=c, stride=s)
                for c, s in zip(self.out_channels, self.out_strides)]

    def train(self, mode: bool = True):
        """Set training mode; the VAE always stays in eval mode."""
        super().train(mode)
        self.vae.eval()
        return self

    # ------------------------------------------------------------------
    def pad(self, img: torch.Tensor) -> torch.Tensor:
        """Zero-pad bottom/right to a multiple of ``pad_to``."""
        h, w = img.shape[-2:]
        ph = (-h) % self.pad_to
        pw = (-w) % self.pad_to
        if ph or pw:
            img = F.pad(img, (0, pw, 0, ph))
        return img

    @torch.no_grad()
    def encode(self, img: torch.Tensor) -> torch.Tensor:
        """VAE latent (distribution mode) of a [-1, 1] image, no gradient."""
        latent = self.vae.encode(img.to(self.dtype)).latent_dist.mode()
        if self.scale_latents:
            latent = latent * self.latent_scale
        return latent

    def time_embedding(self, batch_size: int,
                       device: torch.device) -> torch.Tensor:
        """The UNet's embedding of the fixed ``timestep``, ``[B, D]``."""
        if not self.use_time_embed:
            raise RuntimeError(
                'This backbone was built with use_time_embed=False (Meta '
                'Prompts): pass time_embeds to forward().')
        t = torch.full((batch_size, ), self.timestep, device=device,
                       dtype=torch.long)
        t_emb = self.unet.time_proj(t).to(self.dtype)
        return self.unet.time_embedding(t_emb)

    def unet_features(self, latent: torch.Tensor, context: torch.Tensor,
                      emb: torch.Tensor) -> List[torch.Tensor]:
        """One UNet pass returning the pyramid (attention maps appended).

        Args:
            latent (Tensor): ``[B, 4, h, w]`` latent, h and w multiples of
                ``2 ** (num_levels - 1)``.
            context (Tensor): ``[B, N, context_dim]`` encoder hidden states.
            emb (Tensor): ``[B, time_embed_dim]`` time embedding.

        Returns:
            list[Tensor]: Features in ``out_blocks`` order.
        """
        unet = self.unet
        if context.shape[-1] != self.context_dim:
            raise ValueError(
                f'Conditioning width {context.shape[-1]} does not match the '
                f'UNet cross_attention_dim {self.context_dim}')
        context = context.to(self.dtype)
        emb = emb.to(self.dtype)
        self._captured.clear()
        if self.attn_store is not None:
            self.attn_store.reset()
        h = unet.conv_in(latent.to(self.dtype))
        skips = (h, )
        for block in unet.down_blocks:
            if getattr(block, 'has_cross_attention', False):
                h, res = block(hidden_states=h, temb=emb,
                               encoder_hidden_states=context)
            else:
                h, res = block(hidden_states=h, temb=emb)
            skips += res
        if getattr(unet.mid_block, 'has_cross_attention', False):
            h = unet.mid_block(h, emb, encoder_hidden_states=context)
        else:
            h = unet.mid_block(h, emb)
        block_out = {}
        for i, block in enumerate(unet.up_blocks):
            n = len(block.resnets)
            res, skips = skips[-n:], skips[:-n]
            size = skips[-1].shape[2:] if skips else None
            if getattr(block, 'has_cross_attention', False):
                h = block(hidden_states=h, temb=emb,
                          res_hidden_states_tuple=res,
                          encoder_hidden_states=context, upsample_size=size)
            else:
                h = block(hidden_states=h, temb=emb,
                          res_hidden_states_tuple=res, upsample_size=size)
            block_out[i] = h
        feats = []
        for blk, layer, level in self._taps:
            feat = (block_out[blk] if layer == self.layers_per_block else
                    self._captured[blk])
            if self.attn_store is not None and level in self.attn_cfg[
                    'levels']:
                attn = self.attn_store.average(level)
                if attn is None:
                    raise RuntimeError(
                        f'No cross-attention maps were recorded at level '
                        f'{level}: the selected blocks '
                        f'{self.attn_cfg["blocks"]} have no cross-attention '
                        'there.')
                b, _, fh, fw = feat.shape
                attn = attn.transpose(1, 2).reshape(b, -1, fh, fw)
                feat = torch.cat([feat, attn.to(feat.dtype)], dim=1)
            feats.append(feat)
        self._captured.clear()
        self._last_finest = block_out[len(unet.up_blocks) - 1]
        return feats

    def feedback(self, finest: torch.Tensor) -> torch.Tensor:
        """The UNet's output conv (GN-SiLU-conv) of the finest feature."""
        unet = self.unet
        return unet.conv_out(unet.conv_act(unet.conv_norm_out(finest)))

    def forward(self,
                img: torch.Tensor,
                context: TensorOrList,
                time_embeds: Optional[TensorOrList] = None
                ) -> List[torch.Tensor]:
        """Extract the multi-scale features of a batch of images.

        Args:
            img (Tensor): ``[B, 3, H, W]`` images scaled to [-1, 1].
            context (Tensor | list[Tensor]): Encoder hidden states
                ``[B, N, context_dim]``, or one per loop in recurrent mode.
            time_embeds (Tensor | list[Tensor], optional): External time
                embeddings ``[B, time_embed_dim]`` (one per loop). None: the
                embedding of ``timestep``.

        Returns:
            list[Tensor]: The pyramid of the last loop (``out_blocks`` order),
            for the padded input unless ``crop_output``.
        """
        h, w = img.shape[-2:]
        latent = self.encode(self.pad(img))
        b = latent.shape[0]
        contexts = self._per_loop(context, 'context')
        if time_embeds is None:
            embs = [self.time_embedding(b, latent.device)] * self.num_loops
        else:
            embs = self._per_loop(time_embeds, 'time_embeds')
        x = latent
        feats = None
        for i in range(self.num_loops):
            if i > 0:
                x = self.feedback(self._last_finest)
            feats = self.unet_features(x, contexts[i], embs[i])
        self._last_finest = None
        feats = [f.float() for f in feats]
        if self.crop_output:
            feats = [
                f[..., :-(-h // s), :-(-w // s)]
                for f, s in zip(feats, self.out_strides)
            ]
        return feats

    def _per_loop(self, value: TensorOrList, name: str) -> List[torch.Tensor]:
        if isinstance(value, torch.Tensor):
            return [value] * self.num_loops
        value = list(value)
        if len(value) != self.num_loops:
            raise ValueError(f'{name} has {len(value)} entries but the '
                             f'backbone runs num_loops={self.num_loops}')
        return value
