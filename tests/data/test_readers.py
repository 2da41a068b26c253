import pytest

from edgedepth.data.readers import read_split_entries
from edgedepth.errors import DataError

SIDES = {"l": 2, "r": 3}


def test_split_entries_parse_folder_frame_and_side(tmp_path):
    split = tmp_path / "split.txt"
    split.write_text("# comment\n2011_09_26/2011_09_26_drive_0002_sync/ 0000000069 r\n\nScene01/clone 12\n")
    entries = read_split_entries(split, sides=SIDES, dataset="KITTI", example="x 1 l")
    assert entries == [("2011_09_26/2011_09_26_drive_0002_sync", 69, "r"), ("Scene01/clone", 12, "l")]


@pytest.mark.parametrize("line", ["drive_only", "drive abc l", "drive 12 x"])
def test_bad_split_line_names_file_line_and_format(tmp_path, line):
    split = tmp_path / "split.txt"
    split.write_text(f"good 1 l\n{line}\n")
    with pytest.raises(DataError) as err:
        read_split_entries(split, sides=SIDES, dataset="Virtual KITTI 2", example="Scene01/clone 00012 l")
    msg = err.value.message()
    assert "split.txt, line 2" in msg and "not a Virtual KITTI 2 split entry" in msg and "Scene01/clone 00012 l" in msg


def test_bad_split_line_number_counts_blank_and_comment_lines(tmp_path):
    split = tmp_path / "split.txt"
    split.write_text("# eigen test files\n\nScene01/clone 1 l\n\n# the next one is broken\nScene01/clone abc l\n")
    with pytest.raises(DataError) as err:
        read_split_entries(split, sides=SIDES, dataset="KITTI", example="x/y 1 l")
    assert "split.txt, line 6:" in err.value.message()
