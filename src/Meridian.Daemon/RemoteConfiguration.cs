using System.Globalization;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Host;

namespace Meridian.Daemon;

/// <summary>
/// ntpq's <c>:config</c> and ntpdc's changes, authenticated with the control key: the text is read as ntp.conf
/// lines. Associations are added or removed, restrict lines change the access list (flags add to an entry, as in
/// ntpd; host names go through the background resolver), <c>enable</c>/<c>disable monitor|auth</c>,
/// <c>trustedkey</c> and <c>setvar</c> take effect, and the line <c>readkeys</c> reads the keys file again. Anything
/// that only takes effect at start is named in the answer and left alone. Runs on the event loop.
/// </summary>
public sealed class RemoteConfiguration(NtpEngine engine, RuntimeConfiguration runtime, Action<NtpConfiguration> addAssociations, Action<IEnumerable<string>> resolveRestrictNames, Log log)
{
    /// <summary>Directives <c>:config</c> (and ntpdc) can change while the daemon runs.</summary>
    private static readonly HashSet<string> RuntimeDirectives = new(StringComparer.Ordinal)
    {
        "server", "pool", "peer", "fudge", "unpeer", "unconfig", "restrict", "unrestrict", "enable", "disable", "trustedkey", "setvar", "readkeys",
        "statistics", "filegen",
    };

    /// <summary>System flags a run-time <c>enable</c>/<c>disable</c> can change.</summary>
    private static readonly HashSet<string> RuntimeFlags = new(StringComparer.Ordinal) { "monitor", "auth" };

    /// <summary>Applies <paramref name="text"/>; returns the answer for ntpq.</summary>
    public string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = text.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(l => l.Trim()).ToList();
        bool readKeys = lines.RemoveAll(l => l == "readkeys") > 0;
        static string? Directive(string line) => line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.ToLowerInvariant();

        // Only the lines that change something at run time are read at all: includefile, keys, driftfile and the rest
        // would make the daemon open files at a remote host's word (ntpd ignores them in remote configuration too).
        List<string> startOnly = lines.Select(Directive)
            .Where(w => w is not null && !w.StartsWith('#') && !RuntimeDirectives.Contains(w)).Select(w => w!).Distinct().ToList();
        lines.RemoveAll(l => Directive(l) is string w && !w.StartsWith('#') && !RuntimeDirectives.Contains(w));
        NtpConfiguration remote = ConfigParser.Parse(string.Join('\n', lines), "remote configuration");
        if (remote.HasErrors)
        {
            return string.Join("\r\n", remote.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Message));
        }

        startOnly.AddRange(remote.SystemFlagsWritten.Where(f => !RuntimeFlags.Contains(f) && remote.SystemFlags[f] != runtime.Flags[f]).Select(f => $"{(remote.SystemFlags[f] == true ? "enable" : "disable")} {f}"));

        addAssociations(remote);
        foreach (string gone in remote.Unpeer)
        {
            foreach (Association a in engine.Associations.Where(a => a.Address.Address.ToString() == gone || a.Id.ToString(CultureInfo.InvariantCulture) == gone).ToList())
            {
                engine.Remove(a);
            }
        }

        if (remote.Restrictions.Count > 0)
        {
            runtime.Restrictions.AddRange(remote.Restrictions);
            runtime.ApplyAccess();
            resolveRestrictNames(AccessList.HostNames(remote.Restrictions));
        }

        foreach (string flag in remote.SystemFlagsWritten.Where(RuntimeFlags.Contains))
        {
            runtime.Flags = runtime.Flags.With(flag, remote.SystemFlags[flag] == true);
        }

        runtime.ApplyFlags();
        foreach ((string name, string value) in remote.SetVar)
        {
            engine.Control.SetUserVariable(new UserVariable(name, value, remote.SetVarDefault.Contains(name)));
        }

        if (remote.Statistics.Count > 0 || remote.FileGens.Count > 0)
        {
            runtime.ChangeStatistics(remote);
        }

        runtime.TrustedKeys.UnionWith(remote.TrustedKeys);
        if (readKeys && runtime.ReadKeys() is string problem)
        {
            return "readkeys: " + problem;
        }

        if (remote.TrustedKeys.Count > 0)
        {
            runtime.ApplyKeys();
        }

        log.Notice($"remote configuration: {string.Join("; ", lines.Where(l => l.Length > 0))}");
        return startOnly.Count == 0 ? "Config Succeeded" : $"Config Succeeded; these take effect only at start and were not changed: {string.Join(", ", startOnly)}";
    }
}
