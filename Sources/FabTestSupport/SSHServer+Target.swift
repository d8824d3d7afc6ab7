import FabSSH

extension SSHServer {
    /// A target that reaches this server with its test key and strict host-key checking.
    public func target(alias: String? = nil, policy: HostKeyPolicy = .strict,
                       knownHosts: String? = nil) -> SSHTarget {
        SSHTarget(alias: alias ?? "\(address):\(port)", hostName: address, port: port, user: user,
                  identityFiles: [privateKeyPath], identitiesOnly: true, useAgent: false,
                  hostKeyPolicy: policy, knownHostsFiles: [knownHosts ?? knownHostsPath], connectTimeout: 5)
    }
}
