"""VPD depth: estimator forward/loss/predict, neck/head, loss, TTA."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from vpd.models.conditioners import ClassEmbeddingConditioner
from vpd.models.estimators import DiffusionDepthEstimator
from vpd.models.heads import VPDDepthHead
from vpd.models.losses import BatchSiLogLoss
from vpd.models.necks import VPDDepthNeck
from vpd.registry import MODELS
from vpd.utils.scene_class import scene_class_index

CLASSES = ['bedroom', 'kitchen', 'office']


def tiny_cfg(**test_cfg):
    return ConfigDict(
        type='DiffusionDepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor',
                               mean=[127.5] * 3, std=[127.5] * 3,
                               bgr_to_rgb=True, pad_val=0, seg_pad_val=0,
                               size_divisor=1),
        backbone=dict(type='StableDiffusionBackbone', unet='tiny',
                      vae='tiny'),
        conditioner=dict(type='ClassEmbeddingConditioner', num_classes=3,
                         embed_dim=32, mode='per_image',
                         class_names=CLASSES),
        neck=dict(type='VPDDepthNeck', in_channels=[32, 64, 64, 64],
                  out_channels=64, num_groups=8),
        decode_head=dict(type='VPDDepthHead', in_channels=64, channels=16,
                         num_filters=[8, 8, 8], max_depth=10),
        test_cfg=test_cfg or None)


def samples(n, h, w, scene='kitchen'):
    out = []
    for i in range(n):
        s = SegDataSample(metainfo=dict(
            img_path=f'/data/{scene}_000{i}/rgb_0000{i}.jpg',
            img_shape=(h, w), ori_shape=(h, w)))
        s.gt_depth_map = PixelData(data=torch.rand(1, h, w) * 5 + 0.5)
        out.append(s)
    return out


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg())


@pytest.mark.parametrize('size', [(64, 64), (60, 80), (96, 72), (33, 47)])
def test_any_input_size(model, size):
    h, w = size
    model.eval()
    with torch.no_grad():
        depth = model(torch.randn(2, 3, h, w), samples(2, h, w), 'tensor')
        out = model(torch.randn(2, 3, h, w), samples(2, h, w), 'predict')
    assert depth.shape == (2, 1, h, w)
    assert (depth > 0).all() and (depth < 10).all()
    assert out[0].pred_depth_map.shape == (h, w)


def test_loss_and_gradients():
    torch.manual_seed(0)
    m = MODELS.build(tiny_cfg())
    m.train()
    losses = m(torch.randn(2, 3, 64, 96), samples(2, 64, 96), 'loss')
    assert set(losses) == {'loss_silog'} and losses['loss_silog'] > 0
    losses['loss_silog'].backward()
    missing = [n for n, p in m.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]  # no find_unused_parameters needed
    assert all(p.grad is None for p in m.backbone.vae.parameters())
    assert m.conditioner.gamma.grad is not None
    assert m.conditioner.text_adapter.fc[0].weight.grad is not None


def test_gt_size_mismatch_is_clear(model):
    with pytest.raises(ValueError, match='differ in size'):
        model(torch.randn(1, 3, 64, 64), samples(1, 60, 64), 'loss')


def test_reference_padding_crop_for_480():
    """480 is padded to 512 and the 1/32 map cropped 16 -> 15 (reference)."""
    torch.manual_seed(0)
    m = MODELS.build(tiny_cfg()).eval()
    seen = {}
    m.neck.register_forward_hook(lambda mod, a, o: seen.update(o=o.shape))
    m.decode_head.register_forward_hook(
        lambda mod, a, o: seen.update(i=a[0].shape))
    with torch.no_grad():
        m(torch.randn(1, 3, 480, 480), None, 'tensor')
    assert seen['o'][-2:] == (16, 16) and seen['i'][-2:] == (15, 15)


def test_flip_tta_of_symmetric_model_equals_plain():
    """A flip-equivariant model: flip-TTA output == plain output."""
    torch.manual_seed(0)
    m = MODELS.build(tiny_cfg(flip=True)).eval()
    x = torch.randn(2, 3, 48, 64)
    # the real tiny model: TTA is the average of the two passes
    with torch.no_grad():
        tta = m.inference(x)
        by_hand = (m.extract_depth(x) +
                   m.extract_depth(x.flip(-1)).flip(-1)) / 2
    torch.testing.assert_close(tta, by_hand)
    # a flip-equivariant model (f(flip(x)) == flip(f(x))), e.g. any per-pixel
    # function: flip-TTA must give exactly its plain output
    torch.manual_seed(1)
    weights = torch.randn(3)
    m.extract_depth = lambda img, samples=None: torch.sigmoid(
        (img * weights[:, None, None]).sum(1, keepdim=True))
    with torch.no_grad():
        tta = m.inference(x)
        m.test_cfg = {}
        plain = m.inference(x)
    assert not torch.equal(plain, plain.flip(-1))  # not a trivial case
    torch.testing.assert_close(tta, plain, atol=1e-6, rtol=0)


def test_shift_windows_cover_widths_that_do_not_divide():
    """w - h not divisible by n - 1: the reference windows (step 21 at
    x = 0, 21, 42 for 32x75) leave column 74 uncovered; an edge window at
    x = 43 fills only that column and no pixel is 0 / 0."""
    torch.manual_seed(0)
    m = MODELS.build(tiny_cfg(shift_windows=3)).eval()
    wins, edge = m._windows(32, 75, 3)
    assert [x for _, x, _, _ in wins] == [0, 21, 42]
    assert edge == (0, 43, 32, 32)
    assert m._windows(48, 80, 2)[1] is None  # divides: reference only
    x = torch.randn(1, 3, 32, 75)
    calls = []
    m.backbone.register_forward_hook(lambda mod, a, o: calls.append(
        a[0].shape[0]))
    with torch.no_grad():
        tta = m.inference(x)
        calls_tta = list(calls)
        acc = torch.zeros(1, 1, 32, 75)
        cnt = torch.zeros(1, 1, 32, 75)
        for x0 in (0, 21, 42):  # the reference's loop
            acc[..., x0:x0 + 32] += m.extract_depth(x[..., x0:x0 + 32])
            cnt[..., x0:x0 + 32] += 1
        edge_pred = m.extract_depth(x[..., 43:75])
    assert calls_tta == [4]  # 3 windows + the edge window, one call
    assert torch.isfinite(tta).all()
    torch.testing.assert_close(tta[..., :74], (acc / cnt)[..., :74],
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tta[..., 74], edge_pred[..., -1],
                               atol=1e-5, rtol=1e-5)


def test_shift_windows_match_reference_loop():
    torch.manual_seed(0)
    m = MODELS.build(tiny_cfg(flip=True, shift_windows=2)).eval()
    x = torch.randn(1, 3, 48, 80)
    s = samples(1, 48, 80)
    calls = []
    m.backbone.register_forward_hook(lambda mod, a, o: calls.append(
        a[0].shape[0]))
    with torch.no_grad():
        tta = m.inference(x, s)
    assert calls == [4]  # 2 windows x 2 flips in ONE backbone call
    # the reference's loop: windows at x=0 and x=w-h, flip-averaged, overlap
    # averaged
    with torch.no_grad():
        acc = torch.zeros(1, 1, 48, 80)
        cnt = torch.zeros(1, 1, 48, 80)
        for x0 in (0, 32):
            win = x[..., x0:x0 + 48]
            d = (m.extract_depth(win, s) +
                 m.extract_depth(win.flip(-1), s).flip(-1)) / 2
            acc[..., x0:x0 + 48] += d
            cnt[..., x0:x0 + 48] += 1
    torch.testing.assert_close(tta, acc / cnt, atol=1e-5, rtol=1e-5)


def test_window_stride_places_windows_as_mmseg_slide():
    """``window_stride``: x = 0, S, 2S, ... with the last one clamped to the
    border (mmseg's slide inference), whatever ``shift_windows`` says."""
    windows = DiffusionDepthEstimator._windows
    assert [x for _, x, _, _ in windows(480, 640, 2, 160)[0]] == [0, 160]
    assert [x for _, x, _, _ in windows(32, 75, 3, 16)[0]] == [0, 16, 32, 43]
    assert [y for y, _, _, _ in windows(75, 32, 1, 40)[0]] == [0, 40, 43]
    assert windows(32, 32, 3, 16) == ([(0, 0, 32, 32)], None)
    with pytest.raises(ValueError, match='window_stride'):
        windows(32, 75, 3, 0)
    torch.manual_seed(0)
    m = MODELS.build(tiny_cfg(shift_windows=3, window_stride=16)).eval()
    x = torch.randn(1, 3, 32, 75)
    with torch.no_grad():
        tta = m.inference(x)
        acc = torch.zeros(1, 1, 32, 75)
        cnt = torch.zeros(1, 1, 32, 75)
        for x0 in (0, 16, 32, 43):
            acc[..., x0:x0 + 32] += m.extract_depth(x[..., x0:x0 + 32])
            cnt[..., x0:x0 + 32] += 1
    torch.testing.assert_close(tta, acc / cnt, atol=1e-5, rtol=1e-5)


def test_tta_model_wrapper(model):
    tta = MODELS.build(dict(type='DepthTTAModel', module=model, flip=True,
                            shift_windows=2))
    data = dict(inputs=[torch.randint(0, 255, (3, 48, 64),
                                      dtype=torch.uint8)],
                data_samples=samples(1, 48, 64))
    out = tta.test_step(data)
    assert out[0].pred_depth_map.shape == (48, 64)
    assert model.test_cfg == {}  # restored


def test_postprocess_resizes_to_ori_shape_and_unflips(model):
    s = SegDataSample(metainfo=dict(img_shape=(32, 48), ori_shape=(64, 96),
                                    flip=True,
                                    flip_direction='horizontal'))
    depth = torch.arange(32 * 48, dtype=torch.float32).view(1, 1, 32, 48)
    out = model.postprocess_result(depth, [s])[0].pred_depth_map.data
    assert out.shape == (1, 64, 96)
    assert out[0, 0, 0] > out[0, 0, -1]  # flipped back


def test_scene_class_lookup_and_fallback():
    cond = ClassEmbeddingConditioner(num_classes=3, embed_dim=8,
                                     mode='per_image', class_names=CLASSES)
    assert scene_class_index('/d/kitchen_0028b/rgb_00045.jpg', CLASSES) == 1
    assert scene_class_index('/d/bedroom/rgb_1.jpg', CLASSES) == 0
    assert scene_class_index('/home/me/holiday.jpg', CLASSES) == -1
    s = [SegDataSample(metainfo=dict(img_path='/x/office_1/rgb_1.jpg')),
         SegDataSample(metainfo=dict(img_path='/my/photo.jpg'))]
    ctx = cond(2, s)['context']
    assert ctx.shape == (2, 1, 8)
    emb = cond.class_embeddings
    adapt = cond.text_adapter
    torch.testing.assert_close(ctx[0, 0], adapt(emb[2], cond.gamma))
    torch.testing.assert_close(ctx[1, 0], adapt(emb.mean(0), cond.gamma))


def test_class_embedding_file_checks(tmp_path):
    f = tmp_path / 'emb.pth'
    torch.save(torch.randn(4, 8), f)
    cond = ClassEmbeddingConditioner(str(f), num_classes=4, embed_dim=8)
    assert cond(3)['context'].shape == (3, 4, 8)
    with pytest.raises(ValueError, match='has 4 rows but the dataset has 5'):
        ClassEmbeddingConditioner(str(f), num_classes=5, embed_dim=8)
    with pytest.raises(ValueError, match='width 8'):
        ClassEmbeddingConditioner(str(f), embed_dim=16)
    with pytest.raises(FileNotFoundError, match='make_class_embeddings'):
        ClassEmbeddingConditioner(str(tmp_path / 'missing.pth'), embed_dim=8)
    with pytest.raises(ValueError, match='class_names'):
        ClassEmbeddingConditioner(str(f), embed_dim=8, mode='per_image')


def test_text_adapter_residual_and_gamma_init():
    cond = ClassEmbeddingConditioner(num_classes=2, embed_dim=8)
    assert torch.allclose(cond.gamma, torch.full((8, ), 1e-4))
    out = cond(1)['context'][0]
    # gamma 1e-4: the adapted embeddings stay close to the CLIP ones
    assert (out - cond.class_embeddings).abs().max() < 1e-3


def test_neck_and_head_shapes_and_init():
    neck = VPDDepthNeck(in_channels=[8, 16, 32, 32], out_channels=32,
                        num_groups=4)
    feats = [torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8),
             torch.randn(1, 32, 4, 4), torch.randn(1, 32, 2, 2)]
    x = neck(feats)
    assert x.shape == (1, 32, 4, 4)
    assert all(m.bias.abs().sum() == 0 for m in neck.modules()
               if isinstance(m, torch.nn.Conv2d))
    head = VPDDepthHead(in_channels=32, channels=8, num_filters=[4, 4, 4],
                        max_depth=80)
    d = head(x)
    assert d.shape == (1, 1, 128, 128) and head.scale == 32
    # init std 0.001: the initial prediction is ~ sigmoid(0) * max_depth
    assert torch.allclose(d, torch.full_like(d, 40.0), atol=0.5)
    with pytest.raises(ValueError, match='num_deconv'):
        VPDDepthHead(num_deconv=2, num_filters=[4, 4, 4])


def test_batch_silog_loss_by_hand():
    loss = BatchSiLogLoss(lambd=0.5)
    pred = torch.tensor([[1.0, 2.0], [4.0, 1.0]])
    gt = torch.tensor([[2.0, 2.0], [0.0, 3.0]])  # one invalid pixel
    d = torch.log(torch.tensor([2.0, 2.0, 3.0])) - torch.log(
        torch.tensor([1.0, 2.0, 1.0]))
    expect = torch.sqrt((d**2).mean() - 0.5 * d.mean()**2)
    torch.testing.assert_close(loss(pred, gt), expect)
    assert loss(pred, torch.zeros_like(gt)) == 0


def test_config_model_with_file_embeddings(tmp_path):
    f = tmp_path / 'nyu.pth'
    torch.save(torch.randn(3, 32), f)
    cfg = tiny_cfg()
    cfg.conditioner = dict(type='ClassEmbeddingConditioner',
                           class_embeddings=str(f), num_classes=3,
                           embed_dim=32, mode='per_image',
                           class_names=CLASSES)
    m = MODELS.build(copy.deepcopy(cfg))
    torch.testing.assert_close(m.conditioner.class_embeddings,
                               torch.load(f, weights_only=True))
