using System.Globalization;

namespace Meridian.Ntpviz.Tests;

/// <summary>
/// Writes a statistics directory as our daemon does: two days of dated loopstats/peerstats/clockstats generations
/// and the undated current names linked to the second day, from a fixed seed, so every run sees the same lines.
/// </summary>
internal sealed class SampleStatistics : IDisposable
{
    public const int FirstMjd = 61375; // 2026-11-30
    public static readonly string[] Servers = ["192.0.2.1", "192.0.2.17", "198.51.100.7"];
    public static readonly string[] Refclocks = ["127.127.20.0", "127.127.22.0"];

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "meridian-ntpviz-" + Guid.NewGuid().ToString("N"));

    /// <summary>Every loopstats line written, once (the undated link does not add any).</summary>
    public List<string> LoopLines { get; } = [];

    public List<string> PeerLines { get; } = [];

    public List<string> ClockLines { get; } = [];

    public static DateTime Day(int index) => DateTime.UnixEpoch.AddDays(FirstMjd + index - 40587);

    /// <summary>Writes <paramref name="days"/> days with a clock update every <paramref name="poll"/> seconds.</summary>
    public SampleStatistics(int days = 2, int poll = 64, bool undatedAsCopy = false)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var random = new Random(20261201);
        double Noise(double scale) => scale * (random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5);
        string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        for (int d = 0; d < days; d++)
        {
            int mjd = FirstMjd + d;
            string stamp = Day(d).ToString("yyyyMMdd", CultureInfo.InvariantCulture);
            var loop = new List<string>();
            var peer = new List<string>();
            var clock = new List<string>();
            for (int s = 17; s < 86400; s += poll)
            {
                // A restart on the first morning leaves 37 polls without lines, so no count is a round number.
                int polls = (s - 17) / poll;
                if (d == 0 && polls is >= 100 and < 137)
                {
                    continue;
                }

                double t = d * 86400.0 + s;
                double sec = s + 0.029;
                double daily = Math.Sin(2 * Math.PI * t / 86400);
                loop.Add($"{mjd} {F(sec, "0.000")} {F(25e-6 * daily + Noise(8e-6), "0.000000000")} {F(-12.5 + 0.8 * daily + Noise(0.01), "0.000")} {F(4e-6 + Math.Abs(Noise(3e-6)), "0.000000000")} {F(0.002 + Math.Abs(Noise(0.003)), "0.000000")} 6");
                for (int p = 0; p < Servers.Length; p++)
                {
                    // Each server misses a poll now and then (every 11th, 13th, 17th): peers have different counts.
                    if (polls % (11 + 2 * p + (p == 2 ? 2 : 0)) == 5)
                    {
                        continue;
                    }

                    double offset = (p - 1) * 300e-6 + 25e-6 * daily + Noise(150e-6 * (p + 1));
                    double delay = 0.002 + 0.011 * p + Math.Abs(Noise(400e-6 * (p + 1)));
                    peer.Add($"{mjd} {F(sec + 0.1 * (p + 1), "0.000")} {Servers[p]} {(p == 0 ? "9614" : "9414")} {F(offset, "0.000000000")} {F(delay, "0.000000000")} {F(0.001 + Math.Abs(Noise(0.002)), "0.000000000")} {F(Math.Abs(Noise(200e-6 * (p + 1))), "0.000000000")}");
                }

                for (int r = 0; r < Refclocks.Length; r++)
                {
                    double offset = r == 0 ? 0.0125 + Noise(2e-3) : Noise(2e-6);
                    peer.Add($"{mjd} {F(sec + 0.5 + 0.01 * r, "0.000")} {Refclocks[r]} {(r == 0 ? "9414" : "963a")} {F(offset, "0.000000000")} 0.000000000 {F(0.0001 + Math.Abs(Noise(1e-5)), "0.000000000")} {F(Math.Abs(Noise(r == 0 ? 1e-3 : 1e-6)), "0.000000000")}");
                }

                if (s % (poll * 4) == 17)
                {
                    DateTime at = Day(d).AddSeconds(s);
                    clock.Add($"{mjd} {F(sec + 0.3, "0.000")} 127.127.20.0 $GPRMC,{at:HHmmss},A,5230.1234,N,01324.5678,E,0.0,0.0,{at:ddMMyy},,,A*6C");
                }
            }

            Write($"loopstats.{stamp}", loop, LoopLines);
            Write($"peerstats.{stamp}", peer, PeerLines);
            Write($"clockstats.{stamp}", clock, ClockLines);
            if (d == days - 1)
            {
                foreach (string kind in new[] { "loopstats", "peerstats", "clockstats" })
                {
                    string current = Path.Combine(Directory, kind);
                    if (undatedAsCopy)
                    {
                        File.Copy(Path.Combine(Directory, $"{kind}.{stamp}"), current);
                    }
                    else
                    {
                        File.CreateSymbolicLink(current, $"{kind}.{stamp}");
                    }
                }
            }
        }

        // A foreign file and a torn last line, as a crash mid-write leaves: neither may count.
        File.WriteAllText(Path.Combine(Directory, "loopstats.old.gz"), "not statistics\n");
        File.AppendAllText(Path.Combine(Directory, $"peerstats.{Day(days - 1):yyyyMMdd}"), $"{FirstMjd + days - 1} 86399.9 192.0.2.1 96");
    }

    private void Write(string name, List<string> lines, List<string> all)
    {
        File.WriteAllLines(Path.Combine(Directory, name), lines);
        all.AddRange(lines);
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
