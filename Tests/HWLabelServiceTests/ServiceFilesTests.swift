import Foundation
@testable import HWLabelService
import HWLabelTestSupport
import Testing

/// Files the agent writes follow the process umask (the unit's `UMask=`): the atomic writer
/// sets the mode with fchmod(2), which the umask does not filter, so the mode it is given is
/// `0666 & ~umask`.
@Suite("Service: file modes follow the umask", .serialized)
struct ServiceFilesTests {
    @Test(arguments: [
        ("Name:\thwlabel\nUmask:\t0027\nState:\tS (sleeping)\n", mode_t(0o027)),
        ("Umask:\t0077\n", mode_t(0o077)),
        ("Umask:\t0000\n", mode_t(0)),
        ("Name:\tx\n", nil),
        ("Umask:\t99\n", nil),
    ])
    func umaskFromProcStatus(text: String, expected: mode_t?) {
        #expect(FileCreationMode.current(statusText: text) == expected)
    }

    @Test func regularModeIsTheUmaskApplied() {
        #expect(FileCreationMode.regular(umask: 0o027) == 0o640)
        #expect(FileCreationMode.regular(umask: 0o077) == 0o600)
        #expect(FileCreationMode.regular(umask: 0o022) == 0o644)
        // This process's own umask, as the kernel reports it (read, never set: tests share it).
        #expect(
            FileCreationMode.umask
                == FileCreationMode.current(statusText: try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)))
    }

    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o7777 : nil
    }

    @Test(
        .enabled(if: ReporterProcessTests.binary != nil, "needs the hwlabel binary"),
        arguments: [("027", mode_t(0o640)), ("077", mode_t(0o600))])
    func theAgentWritesItsFilesWithTheUmask(mask: String, expected: mode_t) async throws {
        let binary = try #require(ReporterProcessTests.binary)
        let dir = reporterTempDir("umask-\(mask)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for d in ["conf", "out", "nfd"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true)
        }
        try "[file]\npath = \(dir)/out/report.json\n[nfd]\ndir = \(dir)/nfd\n"
            .write(toFile: dir + "/conf/agent.conf", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [
            "-c", "umask \(mask); exec \"$0\" \"$@\"", binary, "agent", "--config-dir", dir + "/conf",
            "--state-dir", dir + "/state", "--sysfs-root", ReporterProcessTests.fixture, "--log-level", "error",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let files = [
            dir + "/out/report.json", dir + "/nfd/hwlabel", dir + "/state/status.json",
            dir + "/state/state.json", dir + "/state/identity.json",
        ]
        let written = await eventually(timeout: 20) { files.allSatisfy { FileManager.default.fileExists(atPath: $0) } }
        p.terminate()
        p.waitUntilExit()
        try #require(written, "the agent did not write all of \(files)")
        for f in files {
            #expect(Self.mode(f) == expected, "\(f): \(String(Self.mode(f) ?? 0, radix: 8))")
        }
    }
}
