"""The quickstart picks its thread count from the idle CPUs."""
from _tools import load_tool


def test_threads_from_idle_cpus(monkeypatch):
    quickstart = load_tool('quickstart')
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(quickstart.os, 'sched_getaffinity',
                        lambda pid: set(range(8)), raising=False)
    for load, want in ((0.3, 7), (2.6, 5), (7.9, 1), (30.0, 1)):
        monkeypatch.setattr(quickstart.os, 'getloadavg',
                            lambda load=load: (load, 0.0, 0.0))
        threads, why = quickstart.pick_num_threads()
        assert threads == want, load
        assert '8 CPUs' in why and f'load average {load:.1f}' in why
    # a two-core machine with other work: one thread (24 min -> 2 min)
    monkeypatch.setattr(quickstart.os, 'sched_getaffinity',
                        lambda pid: {0, 1}, raising=False)
    assert quickstart.pick_num_threads()[0] == 1
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert quickstart.pick_num_threads() == (
        3, 'OMP_NUM_THREADS=3 in the environment')
    assert quickstart.pick_num_threads(2) == (2, 'as requested with '
                                              '--threads')
