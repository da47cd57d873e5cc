using System.Net;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Host;

namespace Meridian.Daemon;

/// <summary>
/// The part of the configuration that may change while the daemon runs — restrict lines and the addresses their
/// host names resolved to, the system flags, the keys file and the trusted keys — and how each change reaches the
/// engine. Changed by <c>:config</c> and SIGHUP, on the event loop only.
/// </summary>
public sealed class RuntimeConfiguration(NtpConfiguration config, NtpEngine engine, Log log)
{
    private readonly Dictionary<string, IPAddress[]> _resolvedNames = new(StringComparer.OrdinalIgnoreCase);

    public List<RestrictEntry> Restrictions { get; } = [.. config.Restrictions];

    public SystemFlagOptions Flags { get; set; } = config.SystemFlags;

    public HashSet<int> TrustedKeys { get; } = [.. config.TrustedKeys];

    public KeyRing Keys { get; private set; } = config.Keys;

    /// <summary>The statistics files enabled (<c>statistics</c>) and their <c>filegen</c> settings, as changed at run time.</summary>
    public HashSet<string> Statistics { get; } = new(config.Statistics, StringComparer.Ordinal);

    public Dictionary<string, FileGenConfig> FileGens { get; } = new(config.FileGens, StringComparer.Ordinal);

    /// <summary>Told when <c>:config</c> changed <see cref="Statistics"/> or <see cref="FileGens"/>.</summary>
    public Action? StatisticsChanged { get; set; }

    /// <summary>The statistics files as the configuration now asks for them.</summary>
    public IReadOnlyList<FileGenSettings> StatisticsFiles() => FileGenSettings.From(config.StatsDirectory, Flags.Stats, Statistics, FileGens);

    /// <summary>A run-time <c>statistics</c> or <c>filegen</c> line: enable more files, change a file's generation.</summary>
    public void ChangeStatistics(NtpConfiguration remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        Statistics.UnionWith(remote.Statistics);
        foreach ((string name, FileGenConfig gen) in remote.FileGens)
        {
            FileGens[name] = FileGens.TryGetValue(name, out FileGenConfig? old)
                ? old with { File = gen.File ?? old.File, Type = gen.Type ?? old.Type, Link = gen.Link ?? old.Link, Enable = gen.Enable ?? old.Enable }
                : gen;
        }

        StatisticsChanged?.Invoke();
    }

    /// <summary>Restrict host names that could not be resolved yet (SIGHUP tries them again).</summary>
    public HashSet<string> UnresolvedNames { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Records what <paramref name="name"/> resolved to and applies the access list again.</summary>
    public void Resolved(string name, IPAddress[] addresses)
    {
        _resolvedNames[name] = addresses;
        UnresolvedNames.Remove(name);
        ApplyAccess();
    }

    public void ApplyAccess() => engine.Access = AccessList.Build(Restrictions, _resolvedNames);

    public void ApplyFlags() => engine.Flags = DaemonPlan.FlagsOf(Flags);

    /// <summary>Reads the keys file again (<c>readkeys</c>, SIGHUP); null on success, else why not.</summary>
    public string? ReadKeys()
    {
        if (config.KeysFile is not string path)
        {
            return null;
        }

        var problems = new List<ConfigDiagnostic>();
        KeyRing keys = KeyRing.Read(path, problems);
        if (problems.FirstOrDefault(p => p.Line == 0) is { } unreadable)
        {
            return $"cannot read {path}: {unreadable.Message}";
        }

        foreach (ConfigDiagnostic problem in problems)
        {
            log.Warning(problem.ToString());
        }

        Keys = keys;
        engine.Auth.StoredKeys = keys.Count;
        ApplyKeys();
        log.Notice($"keys file {path} read again: {keys.Count} keys");
        return null;
    }

    /// <summary>The trusted keys and the control key as the keys file and <c>trustedkey</c> now say.</summary>
    public void ApplyKeys()
    {
        engine.Keys.Replace(DaemonPlan.TrustedKeysOf(Keys, TrustedKeys));
        engine.Control.Key = DaemonPlan.ControlKeyOf(config.ControlKey, Keys, TrustedKeys, out string? problem);
        if (problem is not null)
        {
            log.Warning(problem);
        }
    }
}
