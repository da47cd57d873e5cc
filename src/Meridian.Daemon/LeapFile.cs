using Meridian.Config;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon;

/// <summary>
/// The leap seconds file (ntpd's <c>leapfile</c>): read at start, on SIGHUP, and when its modification time or size
/// changes (looked at once a minute from the loop's timer, as ntpd looks daily; no watcher thread). A file that
/// cannot be read or whose hash does not match is refused with a log line naming it and why, and the table in use
/// is kept. At start and daily a file that has expired, or expires within 28 days, draws a warning saying how to
/// get a current one.
/// </summary>
public sealed class LeapFile(string path, NtpEngine engine, IClock clock, Log log)
{
    /// <summary>How often the file's modification time and size are looked at, seconds.</summary>
    public const double CheckInterval = 60;

    /// <summary>How often the expiry warning is repeated, seconds.</summary>
    public const double WarningInterval = 86400;

    private FileStamp? _seen;
    private double _lastCheck = double.NaN;
    private double _lastWarning = double.NaN;

    public string Path { get; } = path;

    /// <summary>The table in use (the last file accepted), or null.</summary>
    public LeapTable? Table { get; private set; }

    /// <summary>
    /// Reads the file; on success the engine gets the new table. False (after an error line) when it is refused:
    /// the previous table, if any, stays in use.
    /// </summary>
    public bool Load(string why)
    {
        _seen = FileStamp.Of(Path);
        var problems = new List<ConfigDiagnostic>();
        LeapSecondsFile? file = LeapSecondsFile.Read(Path, problems);
        foreach (ConfigDiagnostic warning in problems.Where(p => p.Severity == DiagnosticSeverity.Warning))
        {
            log.Warning("leapfile: " + warning);
        }

        if (file is null)
        {
            ConfigDiagnostic error = problems.First(p => p.Severity == DiagnosticSeverity.Error);
            string reason = error.Line == 0 ? error.Message : error.ToString();
            log.Error($"leapfile {Path} refused ({why}): {reason}; {(Table is null ? "no leap second table is in use" : "the previous table stays in use")}");
            return false;
        }

        Table = new LeapTable(file.Entries.Select(e => new LeapTransition(e.NtpSeconds, e.TaiOffset)), file.Updated, file.Expires);
        engine.LeapTable = Table;
        NtpTimestamp now = clock.Now();
        LeapSecond? next = Table.NextLeap(now);
        log.Notice($"leapfile {Path} read ({why}): {file.Entries.Count} entries, TAI-UTC {Table.TaiOffset(now)} s, "
            + $"{(next is LeapSecond l ? $"next leap {(l.Kind == LeapIndicator.AddSecond ? "insertion" : "deletion")} at {LeapTable.ToUtc(l.NtpSeconds):yyyy-MM-dd} 00:00 UTC" : "no leap to come")}, "
            + $"updated {LeapTable.ToUtc(file.Updated):yyyy-MM-dd}, expires {LeapTable.ToUtc(file.Expires):yyyy-MM-dd}{(file.HashValid ? ", hash OK" : ", no hash")}");
        WarnIfStale();
        return true;
    }

    /// <summary>Once a second from the loop (monotonic <paramref name="now"/>): the minute's look at the file, the day's warning.</summary>
    public void Tick(double now)
    {
        if (double.IsNaN(_lastCheck))
        {
            _lastCheck = _lastWarning = now;
        }

        if (now - _lastCheck >= CheckInterval)
        {
            _lastCheck = now;
            if (FileStamp.Of(Path) is var seen && seen != _seen)
            {
                Load("the file changed");
            }
        }

        if (now - _lastWarning >= WarningInterval)
        {
            _lastWarning = now;
            WarnIfStale();
        }
    }

    /// <summary>The warning of an expired file or one expiring within 28 days, with how to update it.</summary>
    public void WarnIfStale()
    {
        if (Table is not { } table)
        {
            return;
        }

        NtpTimestamp now = clock.Now();
        double days = table.DaysToExpiry(now);
        const string how = "get a current leap-seconds.list (Debian/Ubuntu: apt install tzdata, /usr/share/zoneinfo/leap-seconds.list; or https://data.iana.org/time-zones/tzdb/leap-seconds.list) and send SIGHUP or wait a minute";
        if (days <= 0)
        {
            log.Warning($"leapfile {Path} expired on {LeapTable.ToUtc(table.Expires):yyyy-MM-dd} ({-days:0} days ago): leap seconds announced since are unknown to it; {how}");
        }
        else if (days < LeapTable.ExpiryWarningDays)
        {
            log.Warning($"leapfile {Path} expires on {LeapTable.ToUtc(table.Expires):yyyy-MM-dd}, in {days:0} days; {how}");
        }
    }
}
