"""The hint after a first signal says how to send the second one that can actually be sent: Ctrl-C
only where a terminal reaches the run through a living supervisor."""

from __future__ import annotations

from flows.interrupt import again_to_stop


def test_ctrl_c_is_offered_only_with_a_terminal_and_a_living_supervisor():
    assert again_to_stop(pid=70, supervisor=50, terminal=True, parent=50) == "Ctrl-C again"
    assert again_to_stop(pid=70, supervisor=0, terminal=True, parent=1) == "Ctrl-C again"  # not supervised
    # the supervisor was killed (the run was re-parented): no terminal reaches the run any more
    assert again_to_stop(pid=70, supervisor=50, terminal=True, parent=1) == "`kill -TERM 70`"
    assert again_to_stop(pid=70, supervisor=50, terminal=False, parent=50) == "`kill -TERM 70`"  # nohup, CI
