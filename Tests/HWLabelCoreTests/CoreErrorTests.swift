import Testing
@testable import HWLabelCore

/// One error type for the core: each code keeps the words users saw before it existed.
@Suite("Core: CoreError codes and messages")
struct CoreErrorTests {
    @Test("config, request and label errors: code, where, and the message")
    func messages() {
        let config = ConfigError(path: "labels.conf", line: 12, message: "unknown directive 'lable' (device, rule)")
        #expect(config.code == .config && config.path == "labels.conf" && config.line == 12)
        #expect(config.description == "labels.conf:12: unknown directive 'lable' (device, rule)")
        #expect(ConfigError(path: "/etc/hwlabel/.lock", message: "cannot lock").description == "/etc/hwlabel/.lock: cannot lock")

        var request = RequestError("devices[0].count: expected an integer")
        #expect(request.code == .invalidRequest && request.kind == .invalid && request.file == nil)
        request.file = "-"
        #expect(request.description == "stdin: invalid request: devices[0].count: expected an integer")
        let unreadable = RequestError("it is a FIFO", kind: .unreadable, file: "/r.json")
        #expect(unreadable.code == .unreadableRequest && unreadable.description == "/r.json: cannot read the request: it is a FIFO")

        #expect(LabelError.invalidLabel("", "a label cannot be empty").description == "invalid label \"\": a label cannot be empty")
        #expect(LabelError.invalidID("10dx", "vendor ID (4 hex digits)").description == "invalid vendor ID (4 hex digits): 10dx")
        #expect(
            LabelError.invalidRule("a subsystem match needs --device too").description
                == "invalid rule: a subsystem match needs --device too")
        #expect(LabelError.notFound("label \"GPU\"").description == "no such label \"GPU\"")
        #expect(LabelError.conflict("rule 10de already given on line 3").description == "rule 10de already given on line 3")
    }

    @Test("a label error thrown by the validators carries its code and the value typed")
    func thrownCodes() {
        let e = #expect(throws: CoreError.self) { try HardwareLabel(validating: "-bad") }
        #expect(e?.code == .invalidLabel && e?.subject == "-bad")
        let id = #expect(throws: CoreError.self) { try LabelRule.splitSubsystem("17aa") }
        #expect(id?.code == .invalidID && id?.subject == "17aa")
    }
}
