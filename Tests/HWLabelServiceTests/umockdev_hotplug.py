#!/usr/bin/env python3
"""Hotplug through umockdev uevents: drives `hwlabel agent` over a umockdev testbed.

Run preloaded (the testbed's uevents only reach processes that run with libumockdev-preload):

    umockdev-wrapper python3 Tests/HWLabelServiceTests/umockdev_hotplug.py --hwlabel .build/debug/hwlabel \
        --recording Tests/Fixtures/umockdev/umockdev-repo__fido2.umockdev

It builds a testbed from the recording (an AMD xHCI, class 0c03, behind a bridge), starts the
agent as a child (it inherits LD_PRELOAD and UMOCKDEV_DIR, so it sees the same testbed and its
uevent netlink socket is umockdev's), waits for the first report, then:

  add     a synthetic Intel 82574L NIC (class 0200) with add_devicev + uevent(add)
  bind    a `driver` link to e1000e, DRIVER=e1000e, uevent(bind)
  remove  uevent(remove), then remove_device (remove_device sends no uevent itself)

After each step it times until the report file carries a new generation and checks it. It prints
one JSON object on stdout: {"ok", "uevents", "debounceMs", "initial", "steps": [{"step", "ok",
"latency_ms", "details"}], "error"?, "agentLog"}. Exit status 0 when every step is ok, 1 when a
step failed, 2 when the environment is unusable (no GI UMockdev, not preloaded).
Standard library plus gi.repository.UMockdev only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

NIC = "0000:00:03.0"
XHCI = "0000:05:00.3"


def emit(summary, code):
    print(json.dumps(summary, indent=2, sort_keys=True))
    sys.stdout.flush()
    sys.exit(code)


def nic_config():
    """64-byte type-0 header of an Intel 82574L (8086:10d3, subsystem 8086:a01f, class 020000)."""
    c = bytearray(64)
    c[0:2] = (0x8086).to_bytes(2, "little")
    c[2:4] = (0x10D3).to_bytes(2, "little")
    c[4:6] = (0x0007).to_bytes(2, "little")    # command: io, memory, bus master
    c[6:8] = (0x0010).to_bytes(2, "little")    # status: capability list
    c[8] = 0x00                                 # revision
    c[9], c[10], c[11] = 0x00, 0x00, 0x02       # prog-if, subclass, base class
    c[0x0E] = 0x00                              # header type 0
    c[0x10:0x14] = (0xFEB80000).to_bytes(4, "little")
    c[0x2C:0x2E] = (0x8086).to_bytes(2, "little")
    c[0x2E:0x30] = (0xA01F).to_bytes(2, "little")
    c[0x34] = 0x00                              # no capabilities in 64 bytes
    c[0x3C], c[0x3D] = 0x0B, 0x01               # irq 11, INTA
    return bytes(c)


class Agent:
    def __init__(self, binary, uevents, work, debounce_ms):
        self.conf = os.path.join(work, "conf")
        self.state = os.path.join(work, "state")
        self.report = os.path.join(self.state, "report.json")
        self.log = os.path.join(work, "agent.log")
        os.makedirs(self.conf)
        with open(os.path.join(self.conf, "agent.conf"), "w") as f:
            # No resync during the test: every new generation comes from a uevent.
            f.write("[agent]\ndebounce = %dms\nresync-interval = 600\n" % debounce_ms)
        self.args = [binary, "agent", "--config-dir", self.conf, "--state-dir", self.state,
                     "--uevents", uevents, "--log-level", "debug"]
        self.proc = None

    def start(self, env):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()

    def tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return f.read().splitlines()[-n:]
        except OSError:
            return []

    def read(self):
        """The report, or None (missing; a torn file would be a bug the parse error shows)."""
        try:
            with open(self.report) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def wait_new(self, generation, timeout):
        """Polls (2 ms) until the report's generation differs. Returns (report, seconds) or (last, None)."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            r = self.read()
            if r is not None and r.get("generation") != generation:
                return r, time.monotonic() - t0
            last = r
            if self.proc.poll() is not None:
                break
            time.sleep(0.002)
        return last, None


def descriptor(report, address):
    for d in report.get("descriptors", []):
        if d.get("address") == address:
            return d
    return None


def tombstone(report, address):
    for t in report.get("tombstones", []):
        if t.get("address") == address:
            return t
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hwlabel", required=True)
    ap.add_argument("--recording", required=True)
    ap.add_argument("--uevents", default="auto", help="the agent's --uevents (auto, udev, kernel)")
    ap.add_argument("--debounce-ms", type=int, default=200)
    ap.add_argument("--budget-ms", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a report change")
    ap.add_argument("--work", help="work directory (default: a new temporary one)")
    a = ap.parse_args()
    summary = {"ok": False, "uevents": a.uevents, "debounceMs": a.debounce_ms,
               "budgetMs": a.budget_ms, "steps": []}

    try:
        import gi
        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev
    except (ImportError, ValueError) as e:
        summary["error"] = "gi.repository.UMockdev unavailable: %s (apt-get install gir1.2-umockdev-1.0 python3-gi)" % e
        emit(summary, 2)
    # (in_mock_environment() is only true once a testbed exists: check LD_PRELOAD first.)
    if "libumockdev-preload" not in os.environ.get("LD_PRELOAD", ""):
        summary["error"] = "not preloaded: run under `umockdev-wrapper python3 %s`" % sys.argv[0]
        emit(summary, 2)

    work = a.work or tempfile.mkdtemp(prefix="hwl-hotplug-")
    summary["work"] = work
    tb = UMockdev.Testbed.new()
    root = tb.get_root_dir()
    if not UMockdev.in_mock_environment():
        summary["error"] = "umockdev preload inactive although LD_PRELOAD names it"
        emit(summary, 2)
    summary["testbed"] = root
    tb.add_from_file(a.recording)
    # A place for the driver link to point at: libpci resolves `driver` with realpath.
    os.makedirs(os.path.join(root, "sys/bus/pci/drivers/e1000e"), exist_ok=True)

    env = dict(os.environ)
    env["UMOCKDEV_DIR"] = root  # Testbed.new() set it in the C environment; make it explicit.
    agent = Agent(a.hwlabel, a.uevents, work, a.debounce_ms)
    agent.start(env)
    try:
        first, secs = agent.wait_new(None, 30.0)
        if secs is None:
            summary["error"] = "no first report within 30 s (agent exit %s)" % agent.proc.poll()
            return finish(summary, agent)
        summary["initial"] = {"generation": first["generation"],
                              "descriptors": [d["address"] for d in first["descriptors"]],
                              "xhciPresent": descriptor(first, XHCI) is not None}
        if descriptor(first, XHCI) is None:
            summary["error"] = "the recording's xHCI %s is not a descriptor in the first report" % XHCI
            return finish(summary, agent)
        current = first
        budget = a.budget_ms / 1000.0

        def step(name, action, check):
            nonlocal current
            gen = current["generation"]
            t0 = time.monotonic()
            action()
            acted = time.monotonic() - t0
            report, secs = agent.wait_new(gen, a.timeout)
            latency = None if secs is None else round((acted + secs) * 1000, 1)
            details = {"fromGeneration": gen}
            ok = secs is not None
            if ok:
                current = report
                details["generation"] = report["generation"]
                problems = check(report, details)
                ok = not problems and acted + secs <= budget
                if problems:
                    details["problems"] = problems
                if acted + secs > budget:
                    details.setdefault("problems", []).append("over budget")
            else:
                details["problems"] = ["the report did not change within %.0f s" % a.timeout]
            summary["steps"].append({"step": name, "ok": ok, "latency_ms": latency, "details": details})

        syspath = {}

        def add():
            syspath["nic"] = tb.add_device(  # add_devicev in C
                "pci", NIC, "/sys/devices/pci0000:00",
                ["vendor", "0x8086\n", "device", "0x10d3\n", "class", "0x020000\n",
                 "subsystem_vendor", "0x8086\n", "subsystem_device", "0xa01f\n",
                 "revision", "0x00\n", "irq", "11\n", "numa_node", "-1\n",
                 "resource", "0x00000000feb80000 0x00000000feb9ffff 0x0000000000040200\n"],
                ["PCI_CLASS", "20000", "PCI_ID", "8086:10D3", "PCI_SUBSYS_ID", "8086:A01F",
                 "PCI_SLOT_NAME", NIC,
                 "MODALIAS", "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"])
            tb.set_attribute_binary(syspath["nic"], "config", list(nic_config()))
            tb.uevent(syspath["nic"], "add")

        def check_add(report, details):
            d = descriptor(report, NIC)
            details["syspath"] = syspath.get("nic")
            if d is None:
                return ["%s is not a descriptor" % NIC]
            details["kind"] = d.get("kind")
            details["driver"] = d.get("driver")
            p = []
            if d["attributes"].get("vendor") != "8086" or d["attributes"].get("device") != "10d3":
                p.append("identity %s" % d["attributes"])
            if d.get("kind") != "network":
                p.append("kind %s" % d.get("kind"))
            if d.get("driver") is not None:
                p.append("driver before bind: %s" % d.get("driver"))
            if tombstone(report, NIC):
                p.append("tombstone for a present device")
            if descriptor(report, XHCI) is None:
                p.append("the xHCI vanished")
            return p

        def bind():
            tb.set_attribute_link(syspath["nic"], "driver", "../../../bus/pci/drivers/e1000e")
            tb.set_property(syspath["nic"], "DRIVER", "e1000e")
            tb.uevent(syspath["nic"], "bind")

        def check_bind(report, details):
            d = descriptor(report, NIC)
            if d is None:
                return ["%s vanished after bind" % NIC]
            details["driver"] = d.get("driver")
            return [] if d.get("driver") == "e1000e" else ["driver %r, want e1000e" % d.get("driver")]

        def remove():
            tb.uevent(syspath["nic"], "remove")
            tb.remove_device(syspath["nic"])

        def check_remove(report, details):
            p = []
            if descriptor(report, NIC) is not None:
                p.append("%s still a descriptor" % NIC)
            t = tombstone(report, NIC)
            details["tombstone"] = t
            if t is None:
                p.append("no tombstone for %s" % NIC)
            elif t.get("reason") != "unplugged":
                p.append("tombstone reason %s" % t.get("reason"))
            if descriptor(report, XHCI) is None:
                p.append("the xHCI vanished")
            return p

        for name, action, check in [("add", add, check_add), ("bind", bind, check_bind),
                                    ("remove", remove, check_remove)]:
            step(name, action, check)
            if not summary["steps"][-1]["ok"]:
                break
        summary["ok"] = len(summary["steps"]) == 3 and all(s["ok"] for s in summary["steps"])
        return finish(summary, agent)
    except Exception as e:  # report, never hang the caller
        summary["error"] = "%s: %s" % (type(e).__name__, e)
        return finish(summary, agent)


def finish(summary, agent):
    agent.stop()
    summary["agentExit"] = agent.proc.returncode if agent.proc else None
    if not summary["ok"]:
        summary["agentLog"] = agent.tail()
    elif summary["work"].startswith(tempfile.gettempdir() + "/hwl-hotplug-"):
        shutil.rmtree(summary["work"], ignore_errors=True)  # kept when something failed
    emit(summary, 0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
