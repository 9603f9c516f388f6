import Glibc
import HWLabelCore
import HWLabelProbe

/// Runs a `PassthroughPlan` through a `PassthroughHost`, the way the kernel documents it and
/// libvirt and driverctl do it, one function at a time:
///
/// 1. load the driver's module when `bus/pci/drivers/<driver>` is absent (`drivers_probe`
///    never loads modules);
/// 2. write the driver to `devices/<BDF>/driver_override`;
/// 3. unbind from the current driver (`drivers/<current>/unbind`);
/// 4. write the address to `bus/pci/drivers_probe`: the kernel binds the override's driver;
/// 5. wait, within `timeout`, for the `driver` link to name it.
///
/// `new_id` is never written: it makes a driver claim every device with those IDs, and races
/// the native driver. When any function fails, every function already touched is put back as
/// it was (override restored, unbound from the new driver, bound to its old one), and the
/// result says what happened to each.
public struct PassthroughExecutor: Sendable {
    public var host: PassthroughHost
    /// Monotonic seconds.
    public var clock: @Sendable () -> Double
    public var sleep: @Sendable (Double) -> Void
    /// How long a bind may take to show in the `driver` link.
    public var timeout: Double
    public var pollInterval: Double

    public init(
        host: PassthroughHost, clock: @escaping @Sendable () -> Double = PassthroughExecutor.monotonic,
        sleep: @escaping @Sendable (Double) -> Void = PassthroughExecutor.sleepSeconds,
        timeout: Double = 10, pollInterval: Double = 0.05
    ) {
        self.host = host
        self.clock = clock
        self.sleep = sleep
        self.timeout = timeout
        self.pollInterval = pollInterval
    }

    /// What happened to one function.
    public enum Outcome: Sendable, Hashable {
        /// The plan keeps it as it is: nothing written.
        case unchanged
        /// Now on `driver` (nil: the plan released it and no driver took it).
        case done(driver: String?)
        /// Not reached: an earlier function failed first.
        case untouched
        /// This function failed; `rolledBack` says whether it is back as it was.
        case failed(String, rolledBack: Bool)
        /// Changed, then put back on `driver` after another function failed.
        case rolledBack(driver: String?)
        /// Changed, and could not be put back.
        case rollbackFailed(String)
    }

    public struct FunctionResult: Sendable, Hashable {
        public var address: PCIAddress
        public var from: String?
        public var to: String?
        public var outcome: Outcome
    }

    public struct Result: Sendable, Hashable {
        public var functions: [FunctionResult]
        /// True when every function reached its intended driver.
        public var succeeded: Bool
    }

    /// Runs the plan.
    public func run(_ plan: PassthroughPlan) -> Result {
        var results = plan.functions.map {
            FunctionResult(
                address: $0.address, from: $0.currentDriver, to: $0.intendedDriver,
                outcome: $0.changes ? .untouched : .unchanged)
        }
        var touched: [Int] = []
        var loaded = Set<String>()
        for (i, f) in plan.functions.enumerated() where f.changes {
            touched.append(i)
            do {
                let now = try apply(f, loaded: &loaded)
                results[i].outcome = .done(driver: now)
            } catch {
                results[i].outcome = .failed(error.description, rolledBack: false)
                for j in touched.reversed() {
                    let back = rollBack(plan.functions[j])
                    switch (results[j].outcome, back) {
                    case (.failed(let why, _), nil): results[j].outcome = .failed(why, rolledBack: true)
                    case (.failed(let why, _), let e?):
                        results[j].outcome = .failed(why + "; putting it back failed: " + e, rolledBack: false)
                    case (_, nil): results[j].outcome = .rolledBack(driver: plan.functions[j].currentDriver)
                    case (_, let e?): results[j].outcome = .rollbackFailed(e)
                    }
                }
                return Result(functions: results, succeeded: false)
            }
        }
        return Result(functions: results, succeeded: true)
    }

    /// What `run` would write, read from the host as it is now: for `--dry-run` (verification
    /// and rollback aside).
    public static func operations(for plan: PassthroughPlan, reading host: PassthroughHost) -> [PassthroughOperation] {
        let dry = DryRunPassthroughHost(reading: host)
        let ex = PassthroughExecutor(host: dry, clock: { 0 }, sleep: { _ in }, timeout: 0)
        var loaded = Set<String>()
        for f in plan.functions where f.changes {
            _ = try? ex.apply(f, loaded: &loaded, verify: false)
        }
        return dry.operations
    }

    // MARK: - Steps

    /// Moves one function to its intended driver; returns the driver it ends on.
    func apply(_ f: PlannedFunction, loaded: inout Set<String>, verify: Bool = true) throws(PassthroughHostError) -> String? {
        let a = f.address
        switch f.action {
        case .keep:
            return f.currentDriver
        case .bind(let driver, let module):
            if !host.hasDriver(driver) && !loaded.contains(module) {
                try host.loadModule(module)
                loaded.insert(module)
                if verify && !host.hasDriver(driver) {
                    throw PassthroughHostError(
                        operation: "modprobe \(module)", detail: "loaded, but no driver \(driver) in bus/pci/drivers")
                }
            }
            try host.write("bus/pci/devices/\(a)/driver_override", driver + "\n")
            if let current = host.driver(of: a), current != driver {
                try host.write("bus/pci/drivers/\(current)/unbind", "\(a)\n")
            }
            try host.write("bus/pci/drivers_probe", "\(a)\n")
            if verify { try waitFor(a, on: driver) }
            return driver
        case .release(let previous):
            try host.write("bus/pci/devices/\(a)/driver_override", "\n")
            if let current = host.driver(of: a) {
                try host.write("bus/pci/drivers/\(current)/unbind", "\(a)\n")
            }
            if let previous, host.hasDriver(previous) {
                try host.write("bus/pci/drivers/\(previous)/bind", "\(a)\n")
                if verify { try waitFor(a, on: previous) }
                return previous
            }
            try host.write("bus/pci/drivers_probe", "\(a)\n")
            guard verify else { return nil }
            // The native driver binds if its module is loaded; unbound is a valid end.
            let now = poll(a) { $0 != nil }
            if let now, VGPUCapacity.isVFIODriver(now) {
                throw PassthroughHostError(operation: "release \(a)", detail: "still on \(now) after drivers_probe")
            }
            return now
        }
    }

    /// Puts a touched function back as the plan found it; nil when it is, else why not.
    func rollBack(_ f: PlannedFunction) -> String? {
        let a = f.address
        var errors: [String] = []
        do {
            try host.write("bus/pci/devices/\(a)/driver_override", (f.currentOverride ?? "") + "\n")
        } catch { errors.append(error.description) }
        if let now = host.driver(of: a), now != f.currentDriver {
            do { try host.write("bus/pci/drivers/\(now)/unbind", "\(a)\n") } catch { errors.append(error.description) }
        }
        if let old = f.currentDriver, host.driver(of: a) != old {
            do { try host.write("bus/pci/drivers/\(old)/bind", "\(a)\n") } catch {
                errors.append(error.description)
            }
        }
        let end = poll(a) { $0 == f.currentDriver }
        if end != f.currentDriver {
            errors.append("\(a) is on \(end ?? "no driver"), not \(f.currentDriver ?? "no driver") as before")
        }
        return errors.isEmpty ? nil : errors.joined(separator: "; ")
    }

    /// Waits for the `driver` link to name `driver`.
    func waitFor(_ a: PCIAddress, on driver: String) throws(PassthroughHostError) {
        let now = poll(a) { $0 == driver }
        guard now == driver else {
            throw PassthroughHostError(
                operation: "bind \(a) to \(driver)",
                detail: "the driver link names \(now ?? "no driver") after \(Self.seconds(timeout))")
        }
    }

    /// Reads the `driver` link until `done` holds or `timeout` passes; returns the last reading.
    func poll(_ a: PCIAddress, until done: (String?) -> Bool) -> String? {
        let deadline = clock() + timeout
        var now = host.driver(of: a)
        while !done(now) && clock() < deadline {
            sleep(pollInterval)
            now = host.driver(of: a)
        }
        return now
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
    }

    // MARK: - Real clock

    public static let monotonic: @Sendable () -> Double = {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static let sleepSeconds: @Sendable (Double) -> Void = { s in
        var want = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
        var left = timespec()
        while nanosleep(&want, &left) != 0 && errno == EINTR { want = left }
    }
}
