using System.Globalization;

namespace Meridian.Tools.Ntpviz;

/// <summary>A command line ntpviz cannot act on; the message says why.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>NTPsec ntpviz's command line, as much of it as a self-contained HTML report needs.</summary>
public sealed class Options
{
    public const string Usage = """
        usage: ntpviz [-h] [-d STATSDIR] [-o OUTDIR] [-n NAME] [-p DAYS] [-s TIME] [-e TIME]
          -d, --datadir STATSDIR  statistics directory to read (default /var/log/ntpstats)
          -o, --outdir OUTDIR     where index.html is written (default ntpgraphs)
          -n, --name NAME         site name in the report title (default this host's name)
          -p, --period DAYS       days to report, a float: 0.5 is 12 hours (default 7; ignored with -s and -e)
          -s, --starttime TIME    start of the report
          -e, --endtime TIME      end of the report (default the last record logged)
          -h, --help              this help
        TIME is POSIX seconds, ISO 8601 UTC (2026-12-01 or 2026-12-01T12:00:00), "now", or relative to now (-2d, -12h, -30m, -90s)
        """;

    public string DataDir { get; private set; } = "/var/log/ntpstats";

    public string OutDir { get; private set; } = "ntpgraphs";

    public string? Name { get; private set; }

    public double PeriodDays { get; private set; } = 7;

    public DateTime? Start { get; private set; }

    public DateTime? End { get; private set; }

    public bool Help { get; private set; }

    /// <summary>Parses the arguments; <paramref name="now"/> anchors "now" and relative times.</summary>
    public static Options Parse(IReadOnlyList<string> args, DateTime now)
    {
        var o = new Options();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string? inline = null;
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is int eq and > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"option {arg} needs a value");
                }

                return args[++i];
            }

            switch (arg)
            {
                case "-h" or "--help":
                    o.Help = true;
                    break;
                case "-d" or "--datadir":
                    o.DataDir = Value();
                    break;
                case "-o" or "--outdir":
                    o.OutDir = Value();
                    break;
                case "-n" or "--name":
                    o.Name = Value();
                    break;
                case "-p" or "--period":
                    string p = Value();
                    if (!double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double days) || !(days > 0) || double.IsInfinity(days))
                    {
                        throw new UsageException($"period '{p}' is not a positive number of days");
                    }

                    o.PeriodDays = days;
                    break;
                case "-s" or "--starttime":
                    o.Start = ParseTime(Value(), now);
                    break;
                case "-e" or "--endtime":
                    o.End = ParseTime(Value(), now);
                    break;
                default:
                    throw new UsageException($"unknown option '{args[i]}'");
            }
        }

        if (o.Start is DateTime s && o.End is DateTime e && s >= e)
        {
            throw new UsageException($"start time {s:yyyy-MM-ddTHH:mm:ssZ} is not before end time {e:yyyy-MM-ddTHH:mm:ssZ}");
        }

        return o;
    }

    /// <summary>
    /// The period reported: NTPsec's rules, start and end if both are given, else the end (given, or the last
    /// record) less the period, or the start plus the period.
    /// </summary>
    public (DateTime Start, DateTime End) Period(DateTime lastRecord)
    {
        TimeSpan period = TimeSpan.FromDays(PeriodDays);
        return (Start, End) switch
        {
            (DateTime s, DateTime e) => (s, e),
            (null, DateTime e) => (e - period, e),
            (DateTime s, null) => (s, lastRecord > s ? lastRecord : s + period),
            _ => (lastRecord - period, lastRecord),
        };
    }

    /// <summary>A time as NTPsec's ntpviz takes it (POSIX seconds or ISO 8601, in UTC), or "now", or now less -Nd/h/m/s.</summary>
    public static DateTime ParseTime(string text, DateTime now)
    {
        string t = text.Trim();
        if (t.Equals("now", StringComparison.OrdinalIgnoreCase))
        {
            return now;
        }

        if (t.Length >= 3 && t[0] == '-' && "smhd".Contains(char.ToLowerInvariant(t[^1]), StringComparison.Ordinal)
            && double.TryParse(t[1..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n))
        {
            double seconds = n * char.ToLowerInvariant(t[^1]) switch { 'd' => 86400, 'h' => 3600, 'm' => 60, _ => 1 };
            return now - TimeSpan.FromSeconds(seconds);
        }

        if (double.TryParse(t, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out double posix))
        {
            return DateTime.UnixEpoch.AddSeconds(posix);
        }

        string[] formats = ["yyyy-MM-dd", "yyyy-MM-ddTHH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm:ss.FFFFFFF", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyyMMdd", "yyyyMMddTHHmmss"];
        string bare = t.EndsWith('Z') ? t[..^1] : t;
        if (DateTime.TryParseExact(bare, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTime iso))
        {
            return iso;
        }

        if (DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset withZone))
        {
            return withZone.UtcDateTime;
        }

        throw new UsageException($"cannot read time '{text}': give POSIX seconds, ISO 8601 (2026-12-01T12:00:00), now or -2d/-12h/-30m/-90s");
    }
}
