import Foundation

/// Where the agent's sinks take their bearer tokens from.
///
/// The shipped unit does not use `LoadCredential=`: systemd 252 copies a credential once, at
/// start, so a rotated token would reach the agent only after a restart. The token files stay
/// in the configuration directory (`/etc/hwlabel`, read-only to the service under
/// `ProtectSystem=strict`) and are read on every request, so rewriting one is enough. A
/// credential an operator adds (`LoadCredential=`, `LoadCredentialEncrypted=`) still wins over
/// the file, and rotates with a restart.
extension AgentService {
    /// The controller's token, in this order:
    /// 1. `token-file` from agent.conf (a file that does not hold a token fails each delivery);
    /// 2. the credential `controller-token` when `$CREDENTIALS_DIRECTORY` holds one;
    /// 3. `<config-dir>/controller-token`, where an empty or missing file means "no
    ///    `Authorization` header" (install.sh creates it empty).
    ///
    /// `optional` is true for the last: the sink then sends no header while the file is empty.
    /// Throws when the credential or the default file holds something that is not a token
    /// (a line break, a space or a control character inside, bytes that are not UTF-8): the
    /// agent refuses to start rather than send reports without the token meant for them. The
    /// error names the file, never its content.
    public static func controllerToken(
        _ c: AgentConfig.Controller, configDirectory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(TokenSource.ReadError) -> (source: TokenSource, optional: Bool)
    {
        if let file = c.tokenFile { return (.file(file), false) }
        if let credential = try readable(.credential("controller-token"), environment) { return (credential, false) }
        let file = TokenSource.file(configDirectory + "/controller-token")
        _ = try readable(file, environment)
        return (file, true)
    }

    /// The Placement token (required), in this order: `token-file` from agent.conf; the
    /// credential `placement-token` when `$CREDENTIALS_DIRECTORY` holds one;
    /// `<config-dir>/placement-token`. Throws when the chosen one holds no token.
    public static func placementToken(
        _ p: AgentConfig.Placement, configDirectory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(TokenSource.ReadError) -> TokenSource
    {
        if let file = p.tokenFile {
            _ = try TokenSource.file(file).read(environment: environment)
            return .file(file)
        }
        if let credential = try readable(.credential("placement-token"), environment) { return credential }
        let file = TokenSource.file(configDirectory + "/placement-token")
        _ = try file.read(environment: environment)
        return file
    }

    /// Checks the tokens `config` uses as the sinks will (`hwlabel agent` calls it before it
    /// starts, to exit 1 with the file's name).
    public static func checkTokens(
        _ config: AgentConfig, configDirectory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(TokenSource.ReadError)
    {
        if let c = config.controller { _ = try controllerToken(c, configDirectory: configDirectory, environment: environment) }
        if let p = config.placement { _ = try placementToken(p, configDirectory: configDirectory, environment: environment) }
    }

    /// `source` when it holds a token; nil when it is missing or empty; throws when it holds
    /// something else.
    static func readable(_ source: TokenSource, _ environment: [String: String]) throws(TokenSource.ReadError) -> TokenSource? {
        do {
            _ = try source.read(environment: environment)
            return source
        } catch {
            if error.isEmpty { return nil }
            throw error
        }
    }
}
