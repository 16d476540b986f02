"""A small registry of downloadable checkpoints and a resolver for them.

Each :data:`MODEL_ZOO` entry is a dict with

* ``url`` (str or None): where to download it (None: no public URL known;
  the file must be placed by hand),
* ``sha256`` (str or None): expected checksum (None: not checked),
* ``filename`` (str): the file name inside the cache folder,
* ``format`` (str): the source layout, e.g. ``'ldm'`` (CompVis single-file
  Stable Diffusion, read by ``vpd.models.backbones.sd_weights``),
  ``'vpd-depth'`` (official VPD ``{'model': ...}``; the names of
  ``vpd.models.converters.SOURCE_FORMATS``), ``'mmengine'``,
  ``'class-embeddings'``,
* ``config`` (str or None): what it is meant for: an architecture preset of
  ``vpd/models/backbones/presets`` or a config file under ``configs/``,
* ``page`` (str, optional): a web page to fetch the file from by hand when
  there is no direct download URL (e.g. Google Drive),
* ``cfg_options`` (list[str], optional): ``key=value`` overrides of
  ``config`` the checkpoint needs (``tools/download.py --convert`` passes
  them to the converter),
* ``purpose`` (str, optional): what it is for, one line
  (``tools/download.py --list``),
* ``size`` (int or None, optional): its size in bytes when published.

:func:`resolve_checkpoint` turns a local path, a zoo name or a URL into a
local file, downloading into the cache folder when needed.
"""
from __future__ import annotations

import os
import os.path as osp
import urllib.parse
from typing import Any, Dict, List, Optional, Union

from .download import download_file, manual_hint

__all__ = ['MODEL_ZOO', 'default_cache_dir', 'resolve_checkpoint',
           'zoo_entry', 'download_hint']

MODEL_ZOO: Dict[str, Dict[str, Any]] = {
    # Stable Diffusion v1.5, original (CompVis ldm) single-file checkpoint,
    # EMA weights only, 4,265,380,512 bytes. The runwayml repository was
    # removed from the Hugging Face hub; this is its official mirror.
    # sha256: the hub stores LFS files under their sha256; the mirror's blob
    # for this file is cc6cb271...1516, the value AUTOMATIC1111's webui,
    # InvokeAI and others list for v1-5-pruned-emaonly.ckpt (not hashed here:
    # no network; a mismatch is refused by the download).
    'sd-v1-5': dict(
        purpose=('Stable Diffusion v1.5 UNet+VAE (CompVis .ckpt): what every '
                 'SD1.5 config trains from'),
        size=4_265_380_512,
        url='https://huggingface.co/stable-diffusion-v1-5/'
        'stable-diffusion-v1-5/resolve/main/v1-5-pruned-emaonly.ckpt',
        sha256='cc6cb27103417325ff94f52b7a5d2dde'
        '45a7515b25c255d8e396c90014281516',
        filename='v1-5-pruned-emaonly.ckpt',
        format='ldm',
        config='sd15'),
    # The same weights as .safetensors (no pickle at all), 4,265,146,304
    # bytes; sha256 as listed by AUTOMATIC1111's webui (its expected hash for
    # this file, short form 6ce0161689) and other tools.
    'sd-v1-5-safetensors': dict(
        purpose='the same SD v1.5 weights as .safetensors (no pickle)',
        size=4_265_146_304,
        url='https://huggingface.co/stable-diffusion-v1-5/'
        'stable-diffusion-v1-5/resolve/main/v1-5-pruned-emaonly.safetensors',
        sha256='6ce0161689b3853acaa03779ec93eafe'
        '75a02f4ced659bee03f50797806fa2fa',
        filename='v1-5-pruned-emaonly.safetensors',
        format='ldm',
        config='sd15'),
    # ------------------------------------------------------------------
    # Released task checkpoints (official layouts; tools/test.py,
    # vpd.apis.init_model and tools/inference.py convert them on the fly,
    # tools/model_converters/official_to_vpd.py once). URLs and numbers are
    # the ones in the official READMEs (wl-zhao/VPD depth/README.md and
    # segmentation/README.md, fudan-zvg/meta-prompts depth/ and
    # segmentation/README.md, mmsegmentation configs/vpd/README.md). The
    # file names of the Tsinghua Cloud / Google Drive files are not
    # published; the ones below are the names the files get in the cache.
    # No sha256 is published (mmseg's 8-hex suffix is the start of it).
    # Google Drive links are pages, not direct downloads: `page` says where
    # to get the file by hand.
    # ------------------------------------------------------------------
    # VPD depth, NYUv2, official recipe: RMSE 0.254, d1 0.964, AbsRel 0.069.
    'vpd-depth-nyu': dict(
        purpose='VPD depth, NYUv2 (RMSE 0.254), official release',
        size=None,
        url='https://cloud.tsinghua.edu.cn/f/7e4adc76cc9b4200ac79/?dl=1',
        sha256=None,
        filename='vpd_depth_480x480.pth',
        format='vpd-depth',
        config='configs/vpd/vpd_sd15_8xb3-25e_nyu-480x480.py'),
    # VPD semantic FPN, ADE20K 512x512, 80k: 53.7 mIoU (54.6 ms+flip).
    'vpd-seg-ade20k': dict(
        purpose='VPD semantic FPN, ADE20K (53.7 mIoU), official release',
        size=None,
        url='https://cloud.tsinghua.edu.cn/f/78ca31e53c5549779abd/?dl=1',
        sha256=None,
        filename='vpd_seg_sd1-5_ade20k-512x512.pth',
        format='vpd-seg',
        config='configs/vpd/vpd_sd15-fpn_8xb2-80k_ade20k-512x512.py'),
    # mmsegmentation 1.2.2's VPD depth port, NYUv2: RMSE 0.253 (480 crop)
    # and 0.258 (512 crop).
    'vpd-depth-nyu-mmseg-480x480': dict(
        purpose="VPD depth, NYUv2, mmseg's port (RMSE 0.253, 480 crop)",
        size=None,
        url='https://download.openmmlab.com/mmsegmentation/v0.5/vpd/'
        'vpd_sd_4xb8-25k_nyu-480x480_20230908-66144bc4.pth',
        sha256=None,
        filename='vpd_sd_4xb8-25k_nyu-480x480_20230908-66144bc4.pth',
        format='mmseg-vpd-depth',
        config='configs/vpd/vpd_sd15_4xb8-25k_nyu-480x480.py'),
    'vpd-depth-nyu-mmseg-512x512': dict(
        purpose="VPD depth, NYUv2, mmseg's port (RMSE 0.258, 512 crop)",
        size=None,
        url='https://download.openmmlab.com/mmsegmentation/v0.5/vpd/'
        'vpd_sd_4xb8-25k_nyu-512x512_20230918-60cefcff.pth',
        sha256=None,
        filename='vpd_sd_4xb8-25k_nyu-512x512_20230918-60cefcff.pth',
        format='mmseg-vpd-depth',
        config='configs/vpd/vpd_sd15_4xb8-25k_nyu-512x512.py'),
    # The 27 NYUv2 scene-class CLIP embeddings ([27, 768]) that VPD depth
    # trains with (mmseg's copy of VPD's depth/nyu_class_embeddings.pth);
    # the configs read checkpoints/nyu_class_embeddings.pth.
    'vpd-nyu-class-embeddings': dict(
        purpose=('the 27 NYUv2 scene-class CLIP embeddings VPD depth trains '
                 'with'),
        size=None,
        url='https://download.openmmlab.com/mmsegmentation/v0.5/vpd/'
        'nyu_class_embeddings.pth',
        sha256=None,
        filename='nyu_class_embeddings.pth',
        format='class-embeddings',
        config=None),
    # The 150 ADE20K class embeddings ([150, 768] float32, CLIP ViT-L/14)
    # that the official VPD segmentation recipe and checkpoint use: the
    # released segmentation/class_embeddings.pth of wl-zhao/VPD (loaded by
    # segmentation/models/vpd_seg.py, class_embedding_path default), in the
    # repository since its first segmentation commit 28658f8 and unchanged
    # since (the same blob 5d2f96fe is in fudan-zvg/meta-prompts). No
    # checksum is published; the sha256 below is that of the file in the
    # repository at that commit. The ADE20K configs read
    # checkpoints/ade20k_class_embeddings.pth.
    'vpd-ade20k-class-embeddings': dict(
        url='https://raw.githubusercontent.com/wl-zhao/VPD/'
        '28658f8fa1fc593dcdd118b17f1b3cbc40a2d17c/segmentation/'
        'class_embeddings.pth',
        sha256='0bba14a25988ae250dac1d9f9541551c'
        '0722a3f5edd902cea888e4e8cbd1b7a2',
        filename='ade20k_class_embeddings.pth',
        format='class-embeddings',
        config=None),
    # Meta Prompts depth, NYUv2: RMSE 0.223, d1 0.976, AbsRel 0.061.
    'metaprompts-depth-nyu': dict(
        purpose='Meta Prompts depth, NYUv2 (RMSE 0.223)',
        size=None,
        url=None,
        page='https://drive.google.com/file/d/'
        '1IBZ34fCaD7vTpr4eS7Cq-gfJWDOzx54A/view?usp=sharing',
        sha256=None,
        filename='metaprompts_depth_nyu.pth',
        format='metaprompts-depth',
        config='configs/meta_prompts/meta-prompts_sd15_8xb3-25e_nyu-'
        '480x480.py'),
    # Meta Prompts depth, KITTI Eigen: RMSE 1.928, d1 0.981, AbsRel 0.047.
    'metaprompts-depth-kitti': dict(
        purpose='Meta Prompts depth, KITTI (AbsRel 0.047)',
        size=None,
        url=None,
        page='https://drive.google.com/file/d/'
        '1GpPKR5JcoD8nR9p-jeJ7fiQFWVSgL7lG/view?usp=sharing',
        sha256=None,
        filename='metaprompts_depth_kitti.pth',
        format='metaprompts-depth',
        config='configs/meta_prompts/meta-prompts_sd15_8xb3-25e_kitti-'
        '352x352.py'),
    # Meta Prompts UPerNet, ADE20K 512x512: 55.83 mIoU (56.81 ms+flip).
    'metaprompts-seg-ade20k': dict(
        purpose='Meta Prompts UPerNet, ADE20K (55.83 mIoU)',
        size=None,
        url=None,
        page='https://drive.google.com/file/d/'
        '1io1xGeteywZuK_OY2VG9fB8O-LtgyYN1/view?usp=sharing',
        sha256=None,
        filename='metaprompts_seg_ade20k.pth',
        format='metaprompts-seg',
        config='configs/meta_prompts/meta-prompts_sd15-upernet_8xb1-80k_'
        'ade20k-512x512.py'),
    # Meta Prompts UPerNet, Cityscapes 1024x1024: 84.38 mIoU (85.77).
    'metaprompts-seg-cityscapes': dict(
        purpose='Meta Prompts UPerNet, Cityscapes (84.38 mIoU)',
        size=None,
        url=None,
        page='https://drive.google.com/file/d/'
        '1uIMJUI-n557E5MydnZcl9Nq6FUKdYjQI/view?usp=sharing',
        sha256=None,
        filename='metaprompts_seg_cityscapes.pth',
        format='metaprompts-seg',
        config='configs/meta_prompts/meta-prompts_sd15-upernet_8xb1-80k_'
        'cityscapes-1024x1024.py'),
    # ... with Mapillary pretraining (1 refinement loop): 85.98 (87.26).
    # Use the Cityscapes config with
    # --cfg-options model.backbone.num_loops=1 model.conditioner.num_loops=1
    'metaprompts-seg-cityscapes-mapillary': dict(
        purpose=('Meta Prompts, Cityscapes with Mapillary pre-training '
                 '(85.98)'),
        size=None,
        url=None,
        page='https://drive.google.com/file/d/'
        '1kMcM_YSCCVsQA3DpUDT15t8Un-MEor3d/view?usp=sharing',
        sha256=None,
        filename='metaprompts_seg_cityscapes_extra.pth',
        format='metaprompts-seg',
        config='configs/meta_prompts/meta-prompts_sd15-upernet_8xb1-80k_'
        'cityscapes-1024x1024.py',
        cfg_options=['model.backbone.num_loops=1',
                     'model.conditioner.num_loops=1']),
}

_REQUIRED_KEYS = ('url', 'sha256', 'filename', 'format', 'config')


def default_cache_dir() -> str:
    """The checkpoint cache folder.

    ``$VPD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vpd/checkpoints``
    (``~/.cache/vpd/checkpoints``).

    Returns:
        str: An absolute path (not created here).
    """
    env = os.environ.get('VPD_CACHE_DIR')
    if env:
        return osp.abspath(osp.expanduser(env))
    base = os.environ.get('XDG_CACHE_HOME') or osp.join('~', '.cache')
    return osp.abspath(osp.expanduser(osp.join(base, 'vpd', 'checkpoints')))


def download_hint(path: Union[str, os.PathLike]) -> Optional[str]:
    """How to get a missing file that a model-zoo entry provides.

    Args:
        path (str | os.PathLike): The missing file (e.g. a config's
            ``checkpoints/v1-5-pruned-emaonly.ckpt``); matched by file name.

    Returns:
        str | None: e.g. ``'download it with: python tools/download.py
        sd-v1-5 (to ~/.cache/vpd/checkpoints, where configs naming
        checkpoints/v1-5-pruned-emaonly.ckpt find it)'``; None when no
        entry has this file name.
    """
    base = osp.basename(os.fspath(path))
    for name in sorted(MODEL_ZOO):
        entry = MODEL_ZOO[name]
        if entry.get('filename') == base:
            if entry.get('url') is None:
                where = entry.get('page') or 'the page in configs/*/README.md'
                return (f'get it by hand from {where} and put it at '
                        f'{osp.join(default_cache_dir(), base)}')
            return (f'download it with: python tools/download.py {name} '
                    f'(to {default_cache_dir()}, where configs naming '
                    f'checkpoints/{base} find it)')
    return None


def zoo_entry(name: str) -> Dict[str, Any]:
    """Return a copy of one :data:`MODEL_ZOO` entry, checked.

    Args:
        name (str): The entry name.

    Returns:
        dict: The entry.
    """
    if name not in MODEL_ZOO:
        raise KeyError(f'"{name}" is not in the model zoo; known names: '
                       f'{sorted(MODEL_ZOO)}')
    entry = dict(MODEL_ZOO[name])
    missing = [k for k in _REQUIRED_KEYS if k not in entry]
    if missing:
        raise ValueError(f'MODEL_ZOO["{name}"] lacks {missing}')
    return entry


def _is_url(text: str) -> bool:
    parsed = urllib.parse.urlparse(text)
    return parsed.scheme in ('http', 'https') and bool(parsed.netloc)


def resolve_checkpoint(name_or_path_or_url: Union[str, os.PathLike],
                       cache_dir: Optional[Union[str, os.PathLike]] = None,
                       download: bool = True,
                       **download_kwargs: Any) -> str:
    """Turn a path, a zoo name or a URL into a local checkpoint file.

    In order:

    1. an existing local path is returned as is (``~`` expanded);
    2. a :data:`MODEL_ZOO` name: ``cache_dir/<filename>`` if present,
       otherwise downloaded there (checked against its sha256) when
       ``download`` is true and the entry has a URL;
    3. an ``http(s)://`` URL: ``cache_dir/<file name of the URL>`` if
       present, otherwise downloaded there when ``download`` is true (with
       the zoo's file name and sha256 if a zoo entry has this URL).

    Args:
        name_or_path_or_url (str | os.PathLike): What to resolve.
        cache_dir (str | os.PathLike, optional): Cache folder. Defaults to
            :func:`default_cache_dir`.
        download (bool): Whether a missing file may be downloaded.
            Defaults to True.
        **download_kwargs: Passed to :func:`vpd.utils.download.download_file`
            (``timeout``, ``connect_timeout``, ``retries``, ``progress``).

    Returns:
        str: Path of an existing local file.

    Raises:
        FileNotFoundError: Nothing matched; the message lists what was tried.
        vpd.utils.download.DownloadError: A download failed.
    """
    spec = os.fspath(name_or_path_or_url)
    if cache_dir is None:
        cache_dir = default_cache_dir()
    cache = osp.abspath(osp.expanduser(os.fspath(cache_dir)))
    tried: List[str] = []

    local = osp.expanduser(spec)
    if osp.exists(local):
        if not osp.isfile(local):
            raise IsADirectoryError(
                21, f'Checkpoint "{spec}" is a folder, expected a file', spec)
        return local
    tried.append(f'a local file "{osp.abspath(local)}": does not exist')

    entry = None
    if spec in MODEL_ZOO:
        entry = zoo_entry(spec)
        url = entry['url']
    elif _is_url(spec):
        url = spec
        for name in MODEL_ZOO:
            if MODEL_ZOO[name].get('url') == spec:
                entry = zoo_entry(name)
                break
    else:
        tried.append(f'a model-zoo name: not one of {sorted(MODEL_ZOO)}')
        tried.append('a URL: does not start with http:// or https://')
        raise FileNotFoundError(
            2, f'Cannot resolve checkpoint "{spec}". Tried:\n  - '
            + '\n  - '.join(tried), spec)

    if entry is not None:
        filename, sha256 = entry['filename'], entry['sha256']
    else:
        filename = osp.basename(urllib.parse.urlparse(url).path)
        sha256 = None
        if not filename:
            raise ValueError(f'Cannot tell a file name from the URL {url!r}')
    dest = osp.join(cache, filename)
    if osp.isfile(dest):
        return dest
    tried.append(f'the cache "{dest}": not present')

    if url is None:
        raise FileNotFoundError(
            2, f'Cannot resolve checkpoint "{spec}": the model zoo has no '
            f'download URL for it. Place the file by hand at\n  {dest}\n'
            + (f'(get it from {entry["page"]})\n' if entry.get('page') else
               '') + 'Tried:\n  - ' + '\n  - '.join(tried), dest)
    if not download:
        raise FileNotFoundError(
            2, f'Cannot resolve checkpoint "{spec}" without downloading '
            '(download=False). Tried:\n  - ' + '\n  - '.join(tried) + '\n'
            + manual_hint(url, dest, sha256), dest)
    return download_file(url, dest, sha256=sha256, **download_kwargs)
