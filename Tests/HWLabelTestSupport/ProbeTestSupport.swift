import Foundation

/// Paths and process helpers shared by the probe and inventory suites.
package enum ProbeTestSupport {
    /// `Tests/Fixtures`, located from this file so tests run from any directory.
    package static let fixtures: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent() // HWLabelTestSupport
        url.deleteLastPathComponent() // Tests
        return url.appendingPathComponent("Fixtures").path
    }()

    /// The package root (where `schema/` lives).
    package static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    package static func fixtureNames(_ sub: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures + "/" + sub)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Absolute path of an executable on `PATH`, or nil.
    package static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        for dir in ["/usr/sbin", "/sbin", "/usr/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// The `hwlabel` executable built next to this test bundle (`swift build --build-tests`
    /// builds it into the same directory as `hwlabelPackageTests.xctest`). `HWLABEL_BIN`
    /// overrides.
    package static func hwlabelBinary() throws -> String {
        if let env = ProcessInfo.processInfo.environment["HWLABEL_BIN"] { return env }
        var candidates: [String] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        // argv[0] is `<bin>/hwlabelPackageTests.xctest` (Linux) or inside it.
        var dir = argv0.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("hwlabel").path)
            dir.deleteLastPathComponent()
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("hwlabel").path)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("hwlabel").path)
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: c, isDirectory: &isDir), !isDir.boolValue { return c }
        }
        throw SupportError(
            "hwlabel executable not found next to the test bundle (looked at \(candidates)); build with `swift build --build-tests` or set HWLABEL_BIN"
        )
    }

    package struct SupportError: Error, CustomStringConvertible {
        package var description: String
        package init(_ d: String) { description = d }
    }

    package struct Result {
        package var status: Int32
        package var stdout: String
        package var stderr: String
        package var stdoutData: Data
        package init(status: Int32, stdout: String, stderr: String, stdoutData: Data) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
            self.stdoutData = stdoutData
        }
    }

    /// Runs a program to completion; stdout and stderr go to temporary files (no pipe deadlock).
    package static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: String? = nil
    ) throws -> Result {
        let tmp = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        let outURL = tmp.appendingPathComponent("hwl-test-\(id).out")
        let errURL = tmp.appendingPathComponent("hwl-test-\(id).err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            p.environment = env
        }
        if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        let o = (try? Data(contentsOf: outURL)) ?? Data()
        let e = (try? Data(contentsOf: errURL)) ?? Data()
        return Result(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self), stdoutData: o)
    }

    /// A fresh temporary directory, removed by the caller with `removeTemp`.
    package static func makeTemp(_ label: String = "tree") throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("hwl-\(label)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    package static func removeTemp(_ dir: String) { try? FileManager.default.removeItem(atPath: dir) }
}
