import pytest


@pytest.fixture(autouse=True, scope="module")
def openvino_cache(tmp_path_factory):
    """Compiled models are cached under XDG_CACHE_HOME: the tests' go to a temporary folder, not the user's cache."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(root))
        yield root / "edgedepth" / "openvino"
