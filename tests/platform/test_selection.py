"""The plugin takes over exactly the runs that ask for hyperaccel."""

from sglang_hyperaccel.platform.selection import is_selected, requested_device


def test_device_flag_forms_are_read():
    """`--device X` and `--device=X` both name the device; absent gives None."""
    assert requested_device(["x", "--device", "hyperaccel"]) == "hyperaccel"
    assert requested_device(["--device=hyperaccel:1"]) == "hyperaccel:1"
    assert requested_device(["--model-path", "m"]) is None


def test_selected_by_flag_or_platform_variable():
    """`--device hyperaccel` or SGLANG_PLATFORM=hyperaccel select the platform."""
    assert is_selected(["launch", "--device", "hyperaccel"], {})
    assert is_selected(["launch"], {"SGLANG_PLATFORM": "hyperaccel"})


def test_never_takes_over_another_device():
    """A command line naming another device wins over the environment; no request means no takeover."""
    assert not is_selected(["launch", "--device", "cpu"], {"SGLANG_PLATFORM": "hyperaccel"})
    assert not is_selected(["launch", "--device=cuda"], {})
    assert not is_selected(["launch"], {})
