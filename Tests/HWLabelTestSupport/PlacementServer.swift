import Foundation

/// The real OpenStack Placement server from ../shared/placement (noauth2 + SQLite), started once
/// per test process and stopped (workdir removed) when the process exits.
package actor PlacementServer {
    package static let shared = PlacementServer()

    package struct Running: Sendable {
        package var url: String
        package var workdir: String
        package init(url: String, workdir: String) {
            self.url = url
            self.workdir = workdir
        }
    }

    package static let scripts = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/placement").standardizedFileURL

    package static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Why the server cannot run here (nil when it can): the scripts or python3 with venv are missing.
    package static let unavailableReason: String? = {
        guard FileManager.default.fileExists(atPath: scripts.appendingPathComponent("start-placement.sh").path) else {
            return "no \(scripts.path)/start-placement.sh"
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import venv, ensurepip, sys; assert sys.version_info >= (3, 11)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run(); p.waitUntilExit() } catch { return "python3 not found: \(error)" }
        return p.terminationStatus == 0
            ? nil : "python3 ≥ 3.11 with venv/ensurepip is required to run Placement (pip install openstack-placement)"
    }()

    /// Tests run when the server can run, and always in CI, where its absence is a failure.
    package static var enabled: Bool { unavailableReason == nil || inCI }

    private var running: Running?

    package func start() throws -> Running {
        if let running { return running }
        if let why = Self.unavailableReason {
            throw PlacementServerError("Placement e2e tests cannot run (CI=\(Self.inCI)): \(why)")
        }
        let port = 20000 + Int(getpid() % 20000)
        // system(3), not Process: corelibs-foundation's Process notices termination through a
        // socket the child inherits, and gunicorn (which outlives the script) inherits it too,
        // so waitUntilExit would never return. Output goes to a file for the same reason.
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("hwlabel-placement-start-\(getpid()).out").path
        let start = Self.scripts.appendingPathComponent("start-placement.sh").path
        let status = system("bash '\(start)' \(port) > '\(outFile)' 2>> '\(outFile).err' < /dev/null")
        let text = (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: outFile + ".err", encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outFile)
        try? FileManager.default.removeItem(atPath: outFile + ".err")
        var vars: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { vars[String(kv[0])] = String(kv[1]) }
        }
        guard status == 0, let url = vars["PLACEMENT_URL"], let wd = vars["PLACEMENT_WORKDIR"] else {
            throw PlacementServerError("start-placement.sh \(port) failed (status \(status)): \(text)\(err.suffix(2000))")
        }
        let r = Running(url: url, workdir: wd)
        running = r
        placementWorkdirToStop = wd
        atexit {
            guard let wd = placementWorkdirToStop else { return }
            let stop = PlacementServer.scripts.appendingPathComponent("stop-placement.sh").path
            _ = system("bash '\(stop)' '\(wd)' --rm > /dev/null 2>&1")
        }
        return r
    }

    /// Lines in the server's access log whose method is not GET: the server's own write count.
    package static func serverWrites(_ r: Running) -> Int {
        let text = (try? String(contentsOfFile: r.workdir + "/access.log", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { l in
            ["\"PUT ", "\"POST ", "\"DELETE ", "\"PATCH "].contains { l.contains($0) }
        }.count
    }
}

nonisolated(unsafe) var placementWorkdirToStop: String?

package struct PlacementServerError: Error, CustomStringConvertible {
    package var description: String
    package init(_ d: String) { description = d }
}
