"""A demo page: drop an image, see the model's prediction.

::

    python tools/demo.py CONFIG CHECKPOINT [--port 7860] [--host 127.0.0.1]

starts a Gradio app at http://127.0.0.1:7860 (this machine only; ``--host
0.0.0.0`` to serve the network). A depth model shows the depth with a colour
bar in metres and offers the 16-bit PNG (millimetres) and a coloured point
cloud (PLY); a segmentation model shows the classes over the image and
offers the label PNG. What each task shows is the table
``vpd.apis.demo_tasks.DEMO_TASKS``. ``CHECKPOINT`` is one of this project's
checkpoints, a released one (converted on the fly), a model-zoo name or a
URL. Needs ``pip install -e ".[demo]"`` (Gradio). Runs on the CPU; the
tiny quickstart models answer in about a second.

The same page is a web API: ``gradio_client.Client(URL).predict(
handle_file('room.jpg'), 60, api_name='/predict')`` returns the outputs
(the image's extra inputs, here the field of view, follow the image).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import tempfile
from typing import Any, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import vpd  # noqa: E402,F401  (mmcv-lite compatibility before mmseg)

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Serve a web page that runs the model on your images.')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint',
                        help='checkpoint path, model-zoo name or URL')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default 127.0.0.1: this '
                        'machine only)')
    parser.add_argument('--port', type=int, default=7860,
                        help='port (default 7860)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def _component(gr, spec, interactive: bool, elem_id: str):
    """The Gradio component of one :class:`DemoField`."""
    kw = dict(label=spec.label, elem_id=elem_id)
    if spec.kind == 'image':
        if interactive:
            return gr.Image(type='filepath', **kw)
        return gr.Image(type='numpy', format='png', **kw)
    if spec.kind == 'file':
        return gr.File(**kw)
    if spec.kind == 'text':
        return gr.Textbox(value=spec.default, interactive=interactive, **kw)
    if spec.kind == 'slider':
        return gr.Slider(spec.minimum, spec.maximum, value=spec.default,
                         **kw)
    raise ValueError(f'demo: unknown field kind "{spec.kind}" ({spec.label})')


def build_demo(model, task=None, title: Optional[str] = None,
               work_dir: Optional[str] = None):
    """The Gradio page of ``model``.

    Args:
        model (nn.Module): From :func:`vpd.apis.init_model`.
        task (DemoTask, optional): Defaults to the one serving ``model``
            (:func:`vpd.apis.demo_tasks.find_demo_task`).
        title (str, optional): Page title.
        work_dir (str, optional): Where each request's files are written
            (a fresh subfolder per request). Defaults to a temp folder.

    Returns:
        gradio.Blocks: The page; ``.launch()`` serves it. The event is
        ``api_name='predict'``: inputs the image path then the task's extra
        inputs, outputs the task's outputs. Element ids: ``vpd-input``,
        ``vpd-in-<i>``, ``vpd-predict``, ``vpd-out-<i>``.
    """
    import gradio as gr

    from vpd.apis.demo_tasks import find_demo_task, new_request_dir
    task = task or find_demo_task(model)
    work_dir = work_dir or tempfile.mkdtemp(prefix='vpd-demo-')
    title = title or f'vpd demo: {task.name}'

    def predict(image_path: Optional[str], *extra: Any) -> List[Any]:
        if not image_path:
            raise gr.Error('Drop an image first.')
        try:
            return task.predict(model, image_path, new_request_dir(work_dir),
                                *extra)
        except (ValueError, OSError) as e:
            raise gr.Error(str(e)) from e

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f'## {title}\nDrop an image and press **Predict**.')
        with gr.Row():
            with gr.Column():
                image = gr.Image(type='filepath', label='Image',
                                 elem_id='vpd-input')
                extras = [_component(gr, f, True, f'vpd-in-{i}')
                          for i, f in enumerate(task.inputs)]
                button = gr.Button('Predict', variant='primary',
                                   elem_id='vpd-predict')
            with gr.Column():
                outputs = [_component(gr, f, False, f'vpd-out-{i}')
                           for i, f in enumerate(task.outputs)]
        button.click(predict, [image, *extras], outputs, api_name='predict',
                     concurrency_limit=1)
    return demo


def main(argv: Optional[List[str]] = None, block: bool = True):
    """Run the tool (serves until Ctrl-C).

    Args:
        argv (list[str], optional): Arguments; defaults to ``sys.argv[1:]``.
        block (bool): Serve until interrupted. False: return the running
            page (``gradio.Blocks``; ``.close()`` stops it), for tests.

    Returns:
        int | gradio.Blocks: Exit status, or the page when not blocking.
    """
    args = parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the demo needs Gradio: pip install -e ".[demo]"',
              file=sys.stderr)
        return 1
    from mmengine.config import Config

    from vpd.apis import init_model, resolve_config_paths
    from vpd.apis.demo_tasks import find_demo_task
    if not osp.isfile(args.config):
        print(f'error: config "{args.config}" not found', file=sys.stderr)
        return 1
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    resolve_config_paths(cfg, ROOT)
    print(f'[demo] building {args.config} with {args.checkpoint}',
          flush=True)
    model = init_model(cfg, args.checkpoint, device=args.device)
    task = find_demo_task(model)
    demo = build_demo(model, task)
    print(f'[demo] {task.name} model ready: open http://{args.host}:'
          f'{args.port} (Ctrl-C stops)', flush=True)
    launch_demo(demo, args.host, args.port, block)
    return 0 if block else demo


def launch_demo(demo, host: str, port: int, block: bool,
                attempts: int = 3) -> None:
    """``demo.launch`` on ``host:port``, tried up to ``attempts`` times.

    Gradio checks after starting that the page answers a request within 3
    s, and gives up (``ValueError: When localhost is not accessible...``)
    when a busy machine answers later; the server is then stopped and
    started again.
    """
    for attempt in range(1, attempts + 1):
        try:
            demo.launch(server_name=host, server_port=port, quiet=True,
                        prevent_thread_lock=not block)
            return
        except ValueError as e:
            if 'localhost is not accessible' not in str(e) or \
                    attempt == attempts:
                raise
            print(f'[demo] the page did not answer in time (busy machine?);'
                  f' starting again ({attempt + 1}/{attempts})', flush=True)
            demo.close()


if __name__ == '__main__':
    sys.exit(main())
