"""haresources: groups, continuation, comments, IP shorthand, line numbers."""

from hbeat.config.haresources import parse_haresources
from hbeat.config.model import Resource

P = "/etc/ha.d/haresources"


def test_seed_group_with_continuation() -> None:
    text = ("# header\nweasel drbddisk::r0 \\\n"
            "        LVM::vg0 Filesystem::/dev/vg0/data::/srv::ext4 10.0.0.100 apache\n")
    groups, problems = parse_haresources(text.encode(), P)
    assert problems == []
    (group,) = groups
    assert (group.node, group.line, group.key) == ("weasel", 2, "drbddisk::r0")
    assert group.resources == (
        Resource("drbddisk::r0", "drbddisk", ("r0",), 2),
        Resource("LVM::vg0", "LVM", ("vg0",), 3),
        Resource("Filesystem::/dev/vg0/data::/srv::ext4", "Filesystem",
                 ("/dev/vg0/data", "/srv", "ext4"), 3),
        Resource("10.0.0.100", "IPaddr", ("10.0.0.100",), 3),
        Resource("apache", "apache", (), 3),
    )


def test_several_groups_tabs_comments_and_ip_forms() -> None:
    text = ("Otter\t10.0.0.1/24/eth0  # comment\n\n"
            "otter 10.0.0.2/24/10.0.0.255 httpd\t#x\nweasel IPaddr::10.0.0.3 \\\n"
            "# a comment line ends the continuation\nweasel Dummy\n")
    groups, problems = parse_haresources(text.encode(), P)
    assert problems == []
    assert [(g.node, g.line, g.key) for g in groups] == [
        ("otter", 1, "10.0.0.1/24/eth0"), ("otter", 3, "10.0.0.2/24/10.0.0.255"),
        ("weasel", 4, "IPaddr::10.0.0.3"), ("weasel", 6, "Dummy")]
    assert groups[0].resources[0].args == ("10.0.0.1/24/eth0",)
    assert groups[2].resources[0].canonical == "IPaddr::10.0.0.3"


def test_group_without_resources() -> None:
    groups, problems = parse_haresources(b"weasel\n", P)
    assert groups == []
    assert [str(p) for p in problems] == [f"{P}:1: resource group for node weasel lists no "
                                          "resources"]


def test_script_name_with_slash() -> None:
    _, problems = parse_haresources(b"weasel /etc/init.d/apache\n", P)
    assert [str(p) for p in problems] == [
        f"{P}:1: resource script name [/etc/init.d/apache] must be a plain name (scripts are "
        "looked up in resource.d, then /etc/init.d)"]
