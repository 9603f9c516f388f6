import Glibc

/// Online CPUs (sysconf), without pulling Foundation's ProcessInfo into the probe.
enum ProcessInfoLite {
    static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
