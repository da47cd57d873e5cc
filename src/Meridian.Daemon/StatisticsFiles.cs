using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Daemon;

/// <summary>One statistics file as <c>filegen</c> sets it up: its base name, how it is split over time, the link.</summary>
public sealed record FileGenSettings(StatisticsFile File, string Name, string Prefix, string Type, bool Link, bool Enabled)
{
    /// <summary>The file a line stamped <paramref name="utc"/> goes to (ntpd 4.2.8's suffixes).</summary>
    public string PathFor(DateTime utc, int pid, double age) => Type switch
    {
        "none" => Prefix,
        "pid" => $"{Prefix}.{pid}",
        "week" => string.Create(CultureInfo.InvariantCulture, $"{Prefix}.{utc.Year:0000}W{(utc.DayOfYear - 1) / 7:00}"),
        "month" => string.Create(CultureInfo.InvariantCulture, $"{Prefix}.{utc.Year:0000}{utc.Month:00}"),
        "year" => string.Create(CultureInfo.InvariantCulture, $"{Prefix}.{utc.Year:0000}"),
        "age" => string.Create(CultureInfo.InvariantCulture, $"{Prefix}.a{(long)(age / 86400) * 86400:00000000}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{Prefix}.{utc.Year:0000}{utc.Month:00}{utc.Day:00}"),
    };

    /// <summary>The statistics files a configuration asks for, with their defaults (ntpd: type day, link, under statsdir).</summary>
    public static IReadOnlyList<FileGenSettings> From(NtpConfiguration config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return From(config.StatsDirectory, config.SystemFlags.Stats, config.Statistics, config.FileGens);
    }

    public static IReadOnlyList<FileGenSettings> From(string? statsDirectory, bool stats, IReadOnlySet<string> statistics, IReadOnlyDictionary<string, FileGenConfig> fileGens)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        ArgumentNullException.ThrowIfNull(fileGens);
        string directory = statsDirectory ?? "/var/log/ntpstats/";
        var result = new List<FileGenSettings>();
        foreach ((StatisticsFile file, string name) in Names)
        {
            FileGenConfig? gen = fileGens.GetValueOrDefault(name);
            bool enabled = stats && (gen?.Enable ?? statistics.Contains(name));
            string prefix = Path.Combine(directory, gen?.File ?? name);
            result.Add(new FileGenSettings(file, name, prefix, gen?.Type ?? "day", gen?.Link ?? true, enabled));
        }

        return result;
    }

    public static readonly (StatisticsFile File, string Name)[] Names =
    [
        (StatisticsFile.LoopStats, "loopstats"), (StatisticsFile.PeerStats, "peerstats"), (StatisticsFile.ClockStats, "clockstats"),
        (StatisticsFile.RawStats, "rawstats"), (StatisticsFile.SysStats, "sysstats"), (StatisticsFile.ProtoStats, "protostats"),
    ];
}

/// <summary>
/// The statistics files: lines from the engine are queued and written by a thread of their own, so that a slow or
/// full disk never holds up the event loop. Each line goes to the file its time selects (a new one at UTC midnight
/// for type day, and so on), with the plain name linked to the current file. A write that fails (a full disk) is
/// counted and logged once; writing resumes, and says so, when the disk takes lines again.
/// </summary>
public sealed class StatisticsFiles : IStatisticsSink, IDisposable
{
    /// <summary>Lines waiting beyond this are dropped and counted: memory stays bounded whatever the disk does.</summary>
    public const int QueueLimit = 10_000;

    private readonly Dictionary<StatisticsFile, FileGenSettings> _files;
    private readonly Log _log;
    private readonly BlockingCollection<(StatisticsFile File, NtpTimestamp Now, string Line)> _queue = new(QueueLimit);
    private readonly Thread _writer;
    private readonly Dictionary<StatisticsFile, (string Path, FileStream Stream)> _open = new();
    private readonly double _start = Environment.TickCount64 / 1000.0;
    private bool _failing;
    private long _failed;
    private long _dropped;
    private long _written;

    public StatisticsFiles(IEnumerable<FileGenSettings> files, Log log)
    {
        _files = files.Where(f => f.Enabled).ToDictionary(f => f.File);
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _writer = new Thread(Run) { IsBackground = true, Name = "ntp-statistics" };
        if (_files.Count > 0)
        {
            _writer.Start();
        }
    }

    /// <summary>Lines written, lines that failed to be written, lines dropped because the queue was full.</summary>
    public long Written => Interlocked.Read(ref _written);

    public long Failed => Interlocked.Read(ref _failed);

    public long Dropped => Interlocked.Read(ref _dropped);

    public IReadOnlyCollection<FileGenSettings> Enabled => _files.Values;

    public bool Wants(StatisticsFile file) => _files.ContainsKey(file);

    public void Write(StatisticsFile file, NtpTimestamp now, string line)
    {
        if (!_files.ContainsKey(file) || _queue.IsAddingCompleted || !_queue.TryAdd((file, now, line)))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Waits until every queued line is written (tests, and the daemon before it exits).</summary>
    public void Flush(TimeSpan within)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (_queue.Count > 0 && clock.Elapsed < within)
        {
            Thread.Sleep(10);
        }
    }

    private void Run()
    {
        foreach ((StatisticsFile file, NtpTimestamp now, string line) in _queue.GetConsumingEnumerable())
        {
            FileGenSettings gen = _files[file];
            string path = gen.PathFor(now.ToDateTime(), Environment.ProcessId, Environment.TickCount64 / 1000.0 - _start);
            try
            {
                FileStream stream = Open(gen, path);
                byte[] bytes = Encoding.ASCII.GetBytes(line + "\n");
                stream.Write(bytes);
                stream.Flush();
                Interlocked.Increment(ref _written);
                if (_failing)
                {
                    _failing = false;
                    _log.Info($"statistics: writing {path} again ({Failed} line(s) lost meanwhile)");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Interlocked.Increment(ref _failed);
                Close(file);
                if (!_failing)
                {
                    _failing = true;
                    _log.Warning($"statistics: cannot write {path}: {e.Message}; lines are counted and dropped until it works again");
                }
            }
        }

        foreach (StatisticsFile file in _open.Keys.ToList())
        {
            Close(file);
        }
    }

    private FileStream Open(FileGenSettings gen, string path)
    {
        if (_open.TryGetValue(gen.File, out var current) && current.Path == path)
        {
            return current.Stream;
        }

        Close(gen.File);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        _open[gen.File] = (path, stream);
        if (gen.Link && path != gen.Prefix)
        {
            try
            {
                HardLink.Create(path, gen.Prefix);
            }
            catch (IOException e)
            {
                _log.Warning($"statistics: {e.Message}");
            }
        }

        return stream;
    }

    private void Close(StatisticsFile file)
    {
        if (_open.Remove(file, out var current))
        {
            try
            {
                current.Stream.Dispose();
            }
            catch (IOException)
            {
                // A full disk may refuse the last flush too: the line is already counted as lost.
            }
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        if (_writer.IsAlive)
        {
            _writer.Join(TimeSpan.FromSeconds(5));
        }

        _queue.Dispose();
    }
}
