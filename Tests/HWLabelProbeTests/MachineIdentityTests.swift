import Foundation
import Glibc
import Testing
@testable import HWLabelProbe

/// `/etc/machine-id` and `boot_id` are read through `HostPaths`, never from fixed paths.
@Suite("Probe: machine identity through HostPaths")
struct MachineIdentityTests {
    private static func roots() throws -> String {
        let dir = FileManager.default.temporaryDirectory.path + "/hwlabel-identity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/proc/sys/kernel/random", withIntermediateDirectories: true)
        return dir
    }

    @Test("both files read from the given roots and trimmed")
    func readsGivenRoots() throws {
        let dir = try Self.roots()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "0123456789abcdef0123456789abcdef\n".write(toFile: dir + "/etc/machine-id", atomically: true, encoding: .utf8)
        try " 6f1c2a7e-0000-4000-8000-000000000001\r\n".write(
            toFile: dir + "/proc/sys/kernel/random/boot_id",
            atomically: true, encoding: .utf8)
        let id = MachineIdentity.read(HostPaths(sys: dir + "/sys", proc: dir + "/proc", dev: nil, etc: dir + "/etc"))
        #expect(
            id
                == MachineIdentity(
                    machineID: "0123456789abcdef0123456789abcdef",
                    bootID: "6f1c2a7e-0000-4000-8000-000000000001"))
    }

    @Test("a root that is not given, a missing, empty or unreadable file: nil")
    func absentIsNil() throws {
        let dir = try Self.roots()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "\n".write(toFile: dir + "/etc/machine-id", atomically: true, encoding: .utf8)
        #expect(mkfifo(dir + "/proc/sys/kernel/random/boot_id", 0o644) == 0)
        let given = MachineIdentity.read(HostPaths(sys: dir + "/sys", proc: dir + "/proc", dev: nil, etc: dir + "/etc"))
        #expect(given == MachineIdentity(machineID: nil, bootID: nil))
        try "abc\n".write(toFile: dir + "/etc/machine-id", atomically: true, encoding: .utf8)
        let noEtc = MachineIdentity.read(HostPaths(sys: dir + "/sys", proc: nil, dev: nil, etc: nil))
        #expect(noEtc == MachineIdentity(machineID: nil, bootID: nil))
        let etcOnly = MachineIdentity.read(HostPaths(sys: dir + "/sys", proc: dir + "/nowhere", dev: nil, etc: dir + "/etc"))
        #expect(etcOnly == MachineIdentity(machineID: "abc", bootID: nil))
    }
}
