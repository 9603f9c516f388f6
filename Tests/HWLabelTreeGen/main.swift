// hwlabel-treegen: writes a kernel-shaped sysfs tree with N PCI functions for the benchmarks,
// with the tree builder the tests use (HWLabelTestSupport's TreeBuilder and ScaledTrees).
import Foundation
import HWLabelTestSupport

let usage = """
    usage: hwlabel-treegen OUTDIR N [--shape mixed|hgx] [--force]

    Writes OUTDIR/sys, laid out as Linux does, with exactly N (>= 1) PCI functions.
      --shape mixed  NICs with SR-IOV VFs, GPUs (some behind a PCIe switch, with audio), NVMe (default)
      --shape hgx    HGX-like trays: switches, GPUs with audio functions, NVSwitches, NICs with VFs
      --force        replace an existing OUTDIR/sys
    Read it with `lspci -A linux-sysfs -O sysfs.path=OUTDIR/sys/bus/pci -vvv -nn -k -D` or
    `hwlabel inventory --sysfs-root OUTDIR/sys`. Generate on tmpfs (/dev/shm) for speed.
    Prints one summary line on success.
    """

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(code)
}

var positional: [String] = []
var shape = ScaledTrees.Shape.mixed
var force = false
var args = CommandLine.arguments.dropFirst()[...]
while let a = args.popFirst() {
    switch a {
    case "--force": force = true
    case "--shape":
        guard let v = args.popFirst(), let s = ScaledTrees.Shape(rawValue: v) else { fail(usage, 2) }
        shape = s
    case "-h", "--help": print(usage); exit(0)
    default:
        if a.hasPrefix("--shape="), let s = ScaledTrees.Shape(rawValue: String(a.dropFirst(8))) { shape = s; continue }
        if a.hasPrefix("-") { fail(usage, 2) }
        positional.append(a)
    }
}
guard positional.count == 2, let n = Int(positional[1]), n >= 1 else { fail(usage, 2) }
let outdir = positional[0]
let sys = outdir + "/sys"
var isDir: ObjCBool = false
if FileManager.default.fileExists(atPath: sys, isDirectory: &isDir)
    || (try? FileManager.default.destinationOfSymbolicLink(atPath: sys)) != nil
{
    guard force else { fail("hwlabel-treegen: \(sys) exists (use --force to replace it)", 1) }
    do { try FileManager.default.removeItem(atPath: sys) } catch { fail("hwlabel-treegen: cannot remove \(sys): \(error)", 1) }
}
let start = Date()
do {
    let (_, summary) = try ScaledTrees.write(shape, functions: n, into: outdir)
    guard summary.functions == n else { fail("hwlabel-treegen: wrote \(summary.functions) functions, not \(n)", 1) }
    print(
        "hwlabel-treegen: \(shape.rawValue), \(summary.line), under \(sys) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
} catch {
    fail("hwlabel-treegen: \(error)", 1)
}
