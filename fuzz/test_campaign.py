#!/usr/bin/env python3
"""Self-tests of the fuzz harness (no hwlabel binary needed):

    python3 -m unittest fuzz/test_campaign.py

Determinism of case derivation, the classifier on hand-made results, dump mutations, and the
guard that keeps every write inside a case directory.
"""

import json
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import campaign as c  # noqa: E402

DUMP = b"""00:02.0 VGA compatible controller: Intel Corporation Device 46a6
00: 86 80 a6 46 07 04 10 00 0c 00 00 03 00 00 00 00
10: 04 00 00 f6 00 00 00 00 0c 00 00 e0 00 00 00 00

01:00.0 Non-Volatile memory controller: Samsung Device a80a
\tSubsystem: Samsung Device a801
00: 4d 14 0a a8 06 04 10 00 00 02 08 01 00 00 00 00
"""


def fake(rc=0, out=b"", err=b"", timed_out=False):
    return {"rc": rc, "stdout": out, "stderr": err, "elapsed": 0.1, "timed_out": timed_out,
            "note": "no exit within 3 s" if timed_out else ""}


class Derivation(unittest.TestCase):
    def test_same_seed_and_index_give_the_same_case(self):
        bases = {"gen": {"funcs": {"0000:00:00.0": {"dir": "sys/devices/pci0000:00/0000:00:00.0",
                                                    "entries": [["vendor", "file"], ["driver", "link"]],
                                                    "subs": [], "children": []}},
                         "groups": ["sys/kernel/iommu_groups/0/type"], "proc": [], "has_proc": False}}
        for i in range(50):
            a = c.gen_tree_case(c.case_rng(7, i), bases)
            b = c.gen_tree_case(c.case_rng(7, i), bases)
            self.assertEqual(a, b)
        self.assertNotEqual([c.gen_config_case(c.case_rng(7, i)) for i in range(20)],
                            [c.gen_config_case(c.case_rng(8, i)) for i in range(20)])


class Classifier(unittest.TestCase):
    def setUp(self):
        c.Ctx.validator = None

    def classes(self, res, json_out=True, documented=(0, 2, 3), extra=None):
        found, _ = c.classify({}, res, json_out, list(documented), extra or {})
        return [k for k, _ in found]

    def test_signal_and_fatal_error_are_crashes(self):
        self.assertEqual(self.classes(fake(rc=-4)), ["crash"])
        self.assertEqual(self.classes(fake(rc=132)), ["crash"])
        self.assertEqual(self.classes(fake(rc=1, err=b"x.swift:3: Fatal error: boom\n")), ["crash"])

    def test_timeout_is_a_hang(self):
        self.assertEqual(self.classes(fake(rc=-9, timed_out=True)), ["hang"])

    def test_exit_code_not_in_help_is_undocumented(self):
        self.assertEqual(self.classes(fake(rc=1, err=b"hwlabel: error: x\n")), ["undocumented-exit"])
        self.assertEqual(self.classes(fake(rc=3, err=b"hwlabel: error: x\n")), [])

    def test_unparsable_or_missing_json(self):
        self.assertEqual(self.classes(fake(out=b"{\"a\": ")), ["invalid-json"])
        self.assertEqual(self.classes(fake(out=b"")), ["invalid-json"])

    def test_lost_and_silently_dropped_functions(self):
        doc = {"functions": [{"address": "0000:00:02.0"}], "descriptors": [], "warnings": []}
        extra = {"base_funcs": ["0000:00:02.0", "0000:01:00.0", "0000:02:00.0"],
                 "touched": {"0000:01:00.0"}, "vanished": set(), "schema": False}
        got = self.classes(fake(out=json.dumps(doc).encode()), extra=extra)
        self.assertEqual(got, ["lost-good-function", "silent-drop"])
        doc["functions"].append({"address": "0000:02:00.0"})
        doc["warnings"].append({"address": "0000:01:00.0", "path": None, "message": "skipped"})
        self.assertEqual(self.classes(fake(out=json.dumps(doc).encode()), extra=extra), [])
        # a documented failure of the whole run loses every untouched function
        self.assertEqual(self.classes(fake(rc=3, err=b"hwlabel: error: x\n"), extra=extra),
                         ["lost-good-function"])

    def test_contract(self):
        doc = {"functions": [{"address": "0000:01:00.0"}, {"address": "0000:01:00.0"}],
               "descriptors": [{"address": "0000:01:00.0", "instance": {"id": "a"}},
                               {"address": "0000:01:00.0", "instance": {"id": "a"}}]}
        probs = c.contract_problems(doc)
        self.assertTrue(any("twice" in p for p in probs))
        self.assertTrue(any("instance id" in p for p in probs))


class Dumps(unittest.TestCase):
    def test_blocks(self):
        _, blocks = c.dump_blocks(DUMP)
        self.assertEqual([b["addr"] for b in blocks], ["0000:00:02.0", "0000:01:00.0"])

    def test_mutations_name_what_they_damage(self):
        rng = random.Random(1)
        new, damaged, _, _ = c.mutate_dump(DUMP, "crlf", rng)
        self.assertEqual(damaged, set())
        self.assertEqual(new.count(b"\r\n"), DUMP.count(b"\n"))
        new, damaged, _, kind = c.mutate_dump(DUMP, "bad-function", rng)
        self.assertEqual(kind, "header")
        self.assertEqual(len(damaged), 1)
        new, damaged, _, _ = c.mutate_dump(DUMP, "dup-block", rng)
        self.assertEqual(len(c.dump_blocks(new)[1]), 3)
        for op, _ in c.DUMP_OPS:
            if op not in ("fifo", "dir", "devzero", "empty", "dangling-link"):
                c.mutate_dump(DUMP, op, random.Random(op))


class Safety(unittest.TestCase):
    def test_writes_stay_inside_the_case_directory(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "case", "f"))
            os.symlink("/", os.path.join(d, "case", "f", "escape"))
            with self.assertRaises(c.Unsafe):
                c.safe_path(os.path.join(d, "case"), "f/escape/etc/passwd")
            p = c.safe_path(os.path.join(d, "case"), "f/escape")
            self.assertEqual(p, os.path.join(os.path.realpath(d), "case", "f", "escape"))

    def test_mutation_replaces_a_link_never_writes_through_it(self):
        with tempfile.TemporaryDirectory() as d:
            case = os.path.join(d, "case")
            os.makedirs(case)
            target = os.path.join(d, "outside")
            with open(target, "w") as f:
                f.write("keep\n")
            os.symlink(target, os.path.join(case, "vendor"))
            c.apply_file_op(case, {"op": "garbage", "target": "vendor", "file_kind": "vendor"},
                            random.Random(0))
            with open(target) as f:
                self.assertEqual(f.read(), "keep\n")
            self.assertFalse(os.path.islink(os.path.join(case, "vendor")))


if __name__ == "__main__":
    unittest.main()
