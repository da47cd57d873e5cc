using System.Globalization;
using System.Text.RegularExpressions;

namespace Meridian.Tools.Ntpviz;

/// <summary>One loopstats line: the local clock discipline after an update.</summary>
public readonly record struct LoopSample(DateTime Time, double Offset, double FrequencyPpm, double Jitter, double WanderPpm, int Poll);

/// <summary>One peerstats line: a peer's filtered sample. Offsets, delays and jitters in seconds.</summary>
public readonly record struct PeerSample(DateTime Time, string Address, int Status, double Offset, double Delay, double Dispersion, double Jitter)
{
    /// <summary>ntpd's reference clocks have the pseudo-addresses 127.127.type.unit.</summary>
    public bool IsRefclock => Address.StartsWith("127.127.", StringComparison.Ordinal);
}

/// <summary>One clockstats line: the last timecode a reference clock driver received.</summary>
public readonly record struct ClockSample(DateTime Time, string Address, string Timecode);

/// <summary>The records of a statistics directory that fall in the report's period.</summary>
public sealed class StatisticsSet
{
    public List<LoopSample> Loop { get; } = [];

    public List<PeerSample> Peers { get; } = [];

    public List<ClockSample> Clocks { get; } = [];

    /// <summary>The files read, so the report can say what it is made of.</summary>
    public List<string> Files { get; } = [];
}

/// <summary>
/// Reads ntpd 4.2.8 statistics files: the dated generations (<c>loopstats.YYYYMMDD</c>) and the undated current
/// name, which is a link to one of them or a file of its own; a line read twice through both counts once.
/// </summary>
public static partial class StatisticsReader
{
    public static readonly string[] Kinds = ["loopstats", "peerstats", "clockstats"];

    private const int UnixEpochMjd = 40587;

    [GeneratedRegex(@"^(loopstats|peerstats|clockstats)(?:\.(\d{8}))?$")]
    private static partial Regex FileName();

    /// <summary>A statistics file in the directory: its kind and, for a dated generation, its UTC day.</summary>
    public readonly record struct StatsFile(string Path, string Kind, DateTime? Day);

    /// <summary>The statistics files in <paramref name="directory"/>, dated ones in day order, the current names last.</summary>
    public static List<StatsFile> List(string directory)
    {
        var files = new List<StatsFile>();
        foreach (string path in Directory.EnumerateFiles(directory))
        {
            Match m = FileName().Match(Path.GetFileName(path));
            if (!m.Success)
            {
                continue;
            }

            DateTime? day = null;
            if (m.Groups[2].Success)
            {
                if (!DateTime.TryParseExact(m.Groups[2].Value, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTime d))
                {
                    continue;
                }

                day = d;
            }

            files.Add(new StatsFile(path, m.Groups[1].Value, day));
        }

        return [.. files.OrderBy(f => f.Kind, StringComparer.Ordinal).ThenBy(f => f.Day ?? DateTime.MaxValue).ThenBy(f => f.Path, StringComparer.Ordinal)];
    }

    /// <summary>UTC time of an MJD day number and seconds past its midnight, the first two fields of every line.</summary>
    public static DateTime TimeOf(int mjd, double seconds) =>
        DateTime.UnixEpoch.AddDays(mjd - UnixEpochMjd).AddTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));

    /// <summary>The latest record time in the newest files, the default end of the report as in NTPsec's ntpviz.</summary>
    public static DateTime? LastRecord(IReadOnlyList<StatsFile> files)
    {
        DateTime? last = null;
        foreach (IGrouping<string, StatsFile> kind in files.GroupBy(f => f.Kind))
        {
            IEnumerable<StatsFile> newest = kind.Where(f => f.Day is null).Concat(kind.Where(f => f.Day is not null).OrderBy(f => f.Day).TakeLast(1));
            foreach (StatsFile file in newest)
            {
                foreach (string line in File.ReadLines(file.Path))
                {
                    if (TryTime(line, out DateTime t) && (last is null || t > last))
                    {
                        last = t;
                    }
                }
            }
        }

        return last;
    }

    /// <summary>Reads the records between <paramref name="start"/> and <paramref name="end"/> (inclusive).</summary>
    public static StatisticsSet Read(IReadOnlyList<StatsFile> files, DateTime start, DateTime end)
    {
        var set = new StatisticsSet();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var read = new HashSet<string>(StringComparer.Ordinal);
        foreach (StatsFile file in files)
        {
            // A dated file holds one UTC day from its midnight; one day of margin covers a late rotation.
            if (file.Day is DateTime day && (day.AddDays(2) <= start || day > end))
            {
                continue;
            }

            // The undated name is usually a link to today's generation: read that file once.
            string real = Path.GetFullPath(new FileInfo(file.Path).ResolveLinkTarget(true)?.FullName ?? file.Path);
            if (!read.Add(real))
            {
                continue;
            }

            set.Files.Add(file.Path);
            foreach (string raw in File.ReadLines(file.Path))
            {
                string line = raw.Trim();
                if (line.Length == 0 || !seen.Add(file.Kind + " " + line))
                {
                    continue;
                }

                Parse(set, file.Kind, line, start, end);
            }
        }

        set.Loop.Sort((a, b) => a.Time.CompareTo(b.Time));
        set.Peers.Sort((a, b) => a.Time.CompareTo(b.Time));
        set.Clocks.Sort((a, b) => a.Time.CompareTo(b.Time));
        return set;
    }

    private static bool TryTime(string line, out DateTime time)
    {
        time = default;
        string[] f = line.Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 2 || !int.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int mjd) || !Number(f[1], out double sec))
        {
            return false;
        }

        time = TimeOf(mjd, sec);
        return true;
    }

    private static bool Number(string s, out double value) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    /// <summary>Adds one line if it is well formed and in the period; a torn or foreign line is skipped, as ntpviz does.</summary>
    private static void Parse(StatisticsSet set, string kind, string line, DateTime start, DateTime end)
    {
        if (!TryTime(line, out DateTime t) || t < start || t > end)
        {
            return;
        }

        if (kind == "clockstats")
        {
            string[] c = line.Split((char[]?)null, 4, StringSplitOptions.RemoveEmptyEntries);
            if (c.Length >= 3)
            {
                set.Clocks.Add(new ClockSample(t, c[2], c.Length > 3 ? c[3] : ""));
            }

            return;
        }

        string[] f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (kind == "loopstats")
        {
            if (f.Length >= 7 && Number(f[2], out double offset) && Number(f[3], out double freq) && Number(f[4], out double jitter) && Number(f[5], out double wander)
                && int.TryParse(f[6], NumberStyles.Integer, CultureInfo.InvariantCulture, out int poll))
            {
                set.Loop.Add(new LoopSample(t, offset, freq, jitter, wander, poll));
            }
        }
        else if (f.Length >= 8 && int.TryParse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int status) && Number(f[4], out double offset)
                 && Number(f[5], out double delay) && Number(f[6], out double dispersion) && Number(f[7], out double jitter))
        {
            set.Peers.Add(new PeerSample(t, f[2], status, offset, delay, dispersion, jitter));
        }
    }
}
