using System.Diagnostics;

namespace Meridian.Tools.Ntpviz;

/// <summary>
/// <c>ntpviz</c>: reads ntpd statistics files (loopstats, peerstats, clockstats) and writes one self-contained HTML
/// report of the local clock, the peers and the reference clocks, with NTPsec ntpviz's command line. Quiet on
/// success; exit status 1 when there is nothing to report or the report cannot be written, 2 for a bad command line.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Options options;
        try
        {
            options = Options.Parse(args, DateTime.UtcNow);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"ntpviz: {e.Message}\n{Options.Usage}");
            return 2;
        }

        if (options.Help)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }

        try
        {
            Run(options, DateTime.UtcNow);
            return 0;
        }
        catch (ReportException e)
        {
            Console.Error.WriteLine($"ntpviz: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"ntpviz: {e.Message}");
            return 1;
        }
    }

    /// <summary>Reads the period's statistics and writes index.html into the output directory; returns its path.</summary>
    public static string Run(Options options, DateTime now)
    {
        if (!Directory.Exists(options.DataDir))
        {
            throw new ReportException($"statistics directory {options.DataDir} does not exist");
        }

        List<StatisticsReader.StatsFile> files = StatisticsReader.List(options.DataDir);
        if (!files.Any(f => f.Kind is "loopstats" or "peerstats"))
        {
            throw new ReportException($"no loopstats or peerstats files in {options.DataDir} (is 'statistics loopstats peerstats' with 'statsdir' in ntp.conf?)");
        }

        DateTime last = StatisticsReader.LastRecord(files) ?? now;
        (DateTime start, DateTime end) = options.Period(last);
        StatisticsSet set = StatisticsReader.Read(files, start, end);
        if (set.Loop.Count == 0 && set.Peers.Count == 0)
        {
            throw new ReportException($"no loopstats or peerstats records from {start:yyyy-MM-ddTHH:mm:ssZ} to {end:yyyy-MM-ddTHH:mm:ssZ} in {options.DataDir}");
        }

        string name = options.Name ?? Environment.MachineName;
        string html = Report.Html(set, name, start, end, now);
        Directory.CreateDirectory(options.OutDir);
        string path = Path.Combine(options.OutDir, "index.html");
        string temp = path + ".tmp";
        File.WriteAllText(temp, html);
        File.Move(temp, path, overwrite: true);
        Debug.Assert(File.Exists(path));
        return path;
    }
}

/// <summary>There is nothing to report, or nowhere to read it from; the message says which.</summary>
public sealed class ReportException(string message) : Exception(message);
