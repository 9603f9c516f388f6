import Foundation
import Glibc
import Testing
@testable import HWLabelProbe

/// One error type for the probe: each code keeps the words users saw before it existed.
@Suite("Probe: ProbeError codes, messages and causes")
struct ProbeErrorTests {
    @Test("file errors: code, path, errno cause, and the message naming the file")
    func fileErrors() {
        let denied = ProbeError(path: "/etc/hwlabel/labels.conf", reason: .system(call: "open", errno: EACCES))
        #expect(denied.code == .systemCall("open") && denied.cause == .errno(EACCES) && denied.errno == EACCES)
        #expect(denied.description == "cannot read /etc/hwlabel/labels.conf: Permission denied (errno 13)")
        #expect(denied.reason == .system(call: "open", errno: EACCES) && !denied.refused)
        let fifo = ProbeError(path: "/x/fifo", reason: .notRegularFile(kind: "a FIFO"))
        #expect(fifo.description == "cannot read /x/fifo: it is a FIFO, not a regular file" && fifo.refused && fifo.errno == nil)
        let big = ProbeError(path: "/x/big", reason: .tooLarge(size: 100, limit: 64 << 10))
        #expect(big.reasonText == "100 bytes is over the limit of 65536 bytes (64 KiB)")
        #expect(ProbeError(path: "/x/bin", reason: .notUTF8).description == "cannot read /x/bin: not UTF-8 text")
    }

    @Test("scan errors keep their words; a dump's file error is its cause")
    func scanErrors() {
        #expect(
            ProbeError.sysfsRootMissing("/t/bus/pci/devices").description
                == "no PCI devices directory at /t/bus/pci/devices: not a sysfs root")
        #expect(ProbeError.libpci("Cannot open /t/bus/pci/devices").description == "libpci: Cannot open /t/bus/pci/devices")
        #expect(ProbeError.enumeration("udev_new failed").description == "cannot enumerate PCI devices: udev_new failed")
        let inner = ProbeError(path: "/d.lspci", reason: .notRegularFile(kind: "a directory"))
        let dump = ProbeError.dumpUnreadable("/d.lspci", inner)
        #expect(dump.code == .dumpUnreadable && dump.cause == .error(inner))
        #expect(dump.description == "cannot read lspci dump /d.lspci: it is a directory, not a regular file")
    }

    @Test("a sysfs read of a directory says what read(2) says; a missing file is ENOENT")
    func sysfsReads() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/hwlabel-probe-error-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard case .failure(let e) = SysfsRoot.readWhole(dir + "/sub") else { Issue.record("read a directory"); return }
        #expect(e.errno == EISDIR && e.description == "cannot read \(dir)/sub: Is a directory (errno 21)")
        guard case .failure(let m) = SysfsRoot.readText(dir + "/none") else { Issue.record("read a missing file"); return }
        #expect(m.errno == ENOENT && !m.refused)
    }
}
