"""The serial stream framer: junk skipping, CR/8-bit stripping, bounds."""

from workers.serialframer import SerialFramer

FRAME = b">>>\nt=status\nst=active\nauth=1 ab\n<<<\n"


def test_whole_frame_in_one_chunk() -> None:
    f = SerialFramer()
    assert f.feed(FRAME) == [FRAME]
    assert f.stats.frames == 1 and f.stats.junk_bytes == 0


def test_frame_split_at_every_byte() -> None:
    for cut in range(1, len(FRAME)):
        f = SerialFramer()
        assert f.feed(FRAME[:cut]) + f.feed(FRAME[cut:]) == [FRAME], cut


def test_byte_at_a_time_stream_of_three_frames_with_junk() -> None:
    stream = b"garbage\n\x00\xff noise\n" + FRAME + b"more junk\n" + FRAME + FRAME
    f = SerialFramer()
    out = []
    for b in stream:
        out += f.feed(bytes([b]))
    assert out == [FRAME, FRAME, FRAME]
    assert f.stats.junk_bytes == len(b"garbage\n\x00\xff noise\n") + len(b"more junk\n")


def test_carriage_returns_and_high_bit_are_stripped() -> None:
    noisy = FRAME.replace(b"\n", b"\r\n").replace(b"status", bytes([ord("s") | 0x80]) + b"tatus")
    assert SerialFramer().feed(noisy) == [FRAME]


def test_restart_marker_inside_frame_discards_the_cut_frame() -> None:
    cut = b">>>\nt=status\n"
    f = SerialFramer()
    assert f.feed(cut + FRAME) == [FRAME]
    assert f.stats.junk_bytes == len(b">>>\nt=status\n")


def test_oversized_frame_is_dropped_and_counted_and_stream_recovers() -> None:
    f = SerialFramer(max_frame=64)
    big = b">>>\n" + b"x=" + b"y" * 100 + b"\n<<<\n"
    assert f.feed(big + FRAME) == [FRAME]
    assert f.stats.oversized == 1


def test_endless_line_without_newline_is_bounded() -> None:
    f = SerialFramer(max_frame=64)
    for _ in range(100):
        assert f.feed(b"z" * 50) == []
    assert len(f._line) <= 64
    assert f.feed(b"\n" + FRAME) == [FRAME]


def test_idle_only_between_frames() -> None:
    f = SerialFramer()
    assert f.idle
    f.feed(FRAME[:3])
    assert not f.idle  # a partial line
    f.feed(FRAME[3:10])
    assert not f.idle  # inside a frame
    f.feed(FRAME[10:])
    assert f.idle
    f.feed(b"junk\n")
    assert f.idle  # a junk line is thrown away whole
