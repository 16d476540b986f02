"""tools/demo.py for real: the Gradio app on a free local port, driven by
gradio_client and by a headless Chromium (Debian's chromium package)."""
import os.path as osp
import shutil
import socket

import cv2
import numpy as np
import pytest
import torch

from _tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPTH = osp.join(ROOT, 'configs', 'quickstart',
                 'vpd_tiny_1xb8-150_synthetic-depth-96x128.py')
SEG = osp.join(ROOT, 'configs', 'quickstart',
               'vpd_tiny-fpn_1xb4-300_synthetic-seg-64x64.py')
POSE = osp.join(ROOT, 'configs', 'quickstart',
                'meta-prompts_tiny_1xb8-300_synthetic-pose-128x96.py')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _chromium():
    for name in ('chromium', 'chromium-browser'):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture
def depth_checkpoint(tmp_path):
    from vpd.apis import init_model
    torch.manual_seed(0)
    model = init_model(DEPTH)  # the tiny model, random weights
    path = str(tmp_path / 'tiny_depth.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def test_demo_page_client_and_browser(tmp_path, depth_checkpoint,
                                      monkeypatch):
    monkeypatch.setenv('GRADIO_TEMP_DIR', str(tmp_path / 'gradio'))
    from gradio_client import Client, handle_file
    demo_tool = load_tool('demo')
    image = str(tmp_path / 'living_room.png')
    rgb = np.random.RandomState(0).randint(0, 256, (48, 64, 3), np.uint8)
    cv2.imwrite(image, rgb)
    port = _free_port()
    demo = demo_tool.main([DEPTH, depth_checkpoint, '--port', str(port)],
                          block=False)
    url = f'http://127.0.0.1:{port}/'
    try:
        # the web API: image + field of view in, the four outputs back
        client = Client(url, verbose=False)
        colour, png, ply, summary = client.predict(
            handle_file(image), 60, api_name='/predict')
        shown = cv2.imread(colour)
        assert shown.shape[0] >= 256 and shown.shape[1] > 64 * 256 // 48
        depth_mm = cv2.imread(png, cv2.IMREAD_UNCHANGED)
        assert depth_mm.dtype == np.uint16 and depth_mm.shape == (48, 64)
        assert osp.basename(png) == 'living_room_depth_mm.png'
        from plyfile import PlyData
        assert PlyData.read(ply)['vertex'].count == int(
            (depth_mm > 0).sum())
        assert summary.startswith('64x48 px, depth ')

        # the page itself, in a headless browser
        chromium = _chromium()
        if chromium is None:
            print('SKIPPED the browser part: no chromium on this machine '
                  '(apt-get install chromium)')
            pytest.skip('no chromium executable (Debian package chromium)')
        from playwright.sync_api import sync_playwright
        shot = str(tmp_path / 'demo_page.png')
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        headless=True,
                                        args=['--no-sandbox'])
            try:
                page = browser.new_page(viewport={'width': 1200,
                                                  'height': 900})
                page.goto(url)
                page.locator('#vpd-input input[type=file]').set_input_files(
                    image)
                page.locator('#vpd-input img').wait_for(timeout=60000)
                page.click('#vpd-predict')
                page.locator('#vpd-out-0 img').wait_for(timeout=120000)
                text = page.locator('#vpd-out-3 textarea')
                page.wait_for_function(
                    'el => el.value.length > 0', arg=text.element_handle(),
                    timeout=60000)
                assert text.input_value().startswith('64x48 px, depth ')
                page.screenshot(path=shot, full_page=True)
            finally:
                browser.close()
        print(f'demo page screenshot: {shot}')
        assert osp.getsize(shot) > 10000
    finally:
        demo.close()


def test_seg_task_and_unknown_model(tmp_path):
    """The segmentation row of the task table, without a server."""
    from vpd.apis import init_model
    from vpd.apis.demo_tasks import DEMO_TASKS, SegDemoTask, find_demo_task
    torch.manual_seed(0)
    model = init_model(SEG, cfg_options={'model.backbone.pretrained': None})
    task = find_demo_task(model)
    assert isinstance(task, SegDemoTask) and task is DEMO_TASKS['seg']
    image = str(tmp_path / 'shapes.jpg')
    cv2.imwrite(image, np.full((40, 56, 3), 127, np.uint8))
    overlay, labels_png, summary = task.predict(model, image, str(tmp_path),
                                                0.5)
    assert overlay.shape == (40, 56, 3) and overlay.dtype == np.uint8
    labels = cv2.imread(labels_png, cv2.IMREAD_UNCHANGED)
    assert labels.shape == (40, 56) and labels.max() < 5
    assert summary.startswith('56x40 px: ')
    with pytest.raises(ValueError, match='as an image'):
        bad = tmp_path / 'bad.jpg'
        bad.write_bytes(b'not an image')
        task.predict(model, str(bad), str(tmp_path), 0.5)
    with pytest.raises(TypeError, match='no task for a Linear'):
        find_demo_task(torch.nn.Linear(1, 1))


def test_pose_task(tmp_path):
    """The pose row of the task table: skeleton picture, COCO keypoint
    JSON, summary; the whole image is the person box."""
    import json

    from vpd.apis import init_model
    from vpd.apis.demo_tasks import DEMO_TASKS, PoseDemoTask, find_demo_task
    torch.manual_seed(0)
    model = init_model(POSE, cfg_options={'model.backbone.pretrained': None})
    task = find_demo_task(model)
    assert isinstance(task, PoseDemoTask) and task is DEMO_TASKS['pose']
    image = str(tmp_path / 'person.jpg')
    cv2.imwrite(image, np.full((64, 48, 3), 127, np.uint8))
    drawn, json_path, summary = task.predict(model, image, str(tmp_path),
                                             0.0)
    assert drawn.shape == (64, 48, 3) and drawn.dtype == np.uint8
    results = json.loads(open(json_path).read())
    assert len(results) == 1 and len(results[0]['keypoints']) == 17 * 3
    assert results[0]['bbox'] == [0.0, 0.0, 48.0, 64.0]  # mmpose's (0, 0, w, h)
    assert summary.startswith('48x64 px, one box (the whole image): 17 of '
                              '17 keypoints above 0.00')


def test_referring_task_row(tmp_path):
    """The referring row: found before seg (a referring segmentor is a
    segmentor too); a sentence in, overlay + binary mask PNG + summary out;
    an empty sentence is refused with a clear message."""
    from vpd.apis import init_model
    from vpd.apis.demo_tasks import (DEMO_TASKS, ReferringDemoTask,
                                     find_demo_task)
    refer = osp.join(ROOT, 'configs', 'quickstart',
                     'vpd_tiny-lavt_1xb8-600_synthetic-refer-64x64.py')
    torch.manual_seed(0)
    model = init_model(refer, cfg_options={
        'model.backbone.pretrained': None,
        'model.conditioner.text_encoder': None})  # seeded stand-in
    task = find_demo_task(model)
    assert isinstance(task, ReferringDemoTask)
    assert task is DEMO_TASKS['referring']
    assert [f.kind for f in task.inputs] == ['text']
    image = str(tmp_path / 'shapes.jpg')
    cv2.imwrite(image, np.full((40, 56, 3), 127, np.uint8))
    overlay, mask_png, summary = task.predict(model, image, str(tmp_path),
                                              'the red square on the left')
    assert overlay.shape == (40, 56, 3) and overlay.dtype == np.uint8
    mask = cv2.imread(mask_png, cv2.IMREAD_UNCHANGED)
    assert mask.shape == (40, 56) and set(np.unique(mask)) <= {0, 255}
    assert osp.basename(mask_png) == 'shapes_mask.png'
    assert summary.startswith('"the red square on the left": ')
    assert summary.split(': ')[1].startswith(f'{int((mask > 0).sum())} px')
    with pytest.raises(ValueError, match='Type a sentence'):
        task.predict(model, image, str(tmp_path), '   ')
