using System.Diagnostics;
using System.Globalization;
using Meridian.Bench.Accuracy;
using Meridian.Engine;

// Client accuracy on the simulator, side by side with the figures chrony's comparison page publishes for chrony
// and ntpd (clknetsim; µs, mean ± sd over 100 runs).
// Usage: accuracy [--seeds N] [--seed first] [--test 1|2|3] [--jitter µs,...] [--discipline adaptive|classic] [--precision log2s] [--trace]
int seeds = 20;
int firstSeed = 1;
int? only = null;
double[] jitters = [10e-6, 100e-6, 1e-3, 10e-3];
DisciplineKind[] kinds = [DisciplineKind.Adaptive, DisciplineKind.Classic];
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--seeds": seeds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--test": only = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--jitter": jitters = args[++i].Split(',').Select(j => double.Parse(j, CultureInfo.InvariantCulture) * 1e-6).ToArray(); break;
        case "--trace": AccuracyTest.Trace = true; break;
        case "--precision": AccuracyTest.Precision = sbyte.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--seed": firstSeed = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--discipline": kinds = [Enum.Parse<DisciplineKind>(args[++i], ignoreCase: true)]; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

// Published: chrony, ntpd per test and jitter (10 µs, 100 µs, 1 ms, 10 ms), mean and sd in µs (Test 3: mean only).
var published = new Dictionary<(int, double), (string Chrony, string Ntpd)>
{
    [(1, 10e-6)] = ("35±8", "234±46"), [(1, 100e-6)] = ("109±14", "256±50"), [(1, 1e-3)] = ("475±93", "454±94"), [(1, 10e-3)] = ("1603±447", "3665±651"),
    [(2, 10e-6)] = ("14±0", "165±17"), [(2, 100e-6)] = ("56±3", "167±18"), [(2, 1e-3)] = ("229±15", "217±17"), [(2, 10e-3)] = ("750±91", "1467±100"),
    [(3, 10e-6)] = ("7273", "608803"), [(3, 100e-6)] = ("9528", "580679"), [(3, 1e-3)] = ("10706", "1115961"), [(3, 10e-3)] = ("26105", "897703"),
};

Console.WriteLine($"RMS of the true clock error after warm-up, µs, mean ± sd over {seeds} seeds");
Console.WriteLine();
Console.WriteLine("| Test | Jitter | chrony (published) | ntpd (published) | Meridian adaptive | Meridian classic | oracle floor |");
Console.WriteLine("|---|---|---|---|---|---|---|");
var clock = Stopwatch.StartNew();
double simulatedHours = 0;
foreach (AccuracyTest test in AccuracyTest.All.Where(t => only is null || t.Number == only))
{
    foreach (double jitter in jitters)
    {
        var cells = new Dictionary<DisciplineKind, string>();
        string floor = "";
        foreach (DisciplineKind kind in kinds)
        {
            (double Client, double Oracle)[] runs = Enumerable.Range(firstSeed, seeds).AsParallel().AsOrdered().Select(seed => test.Measure(jitter, kind, seed)).ToArray();
            double[] results = runs.Select(r => r.Client * 1e6).ToArray();
            if (test.Availability is not null)
            {
                floor = Summary(runs.Select(r => r.Oracle * 1e6).ToArray());
            }

            simulatedHours += test.Hours * seeds;
            if (Environment.GetEnvironmentVariable("ACCURACY_SEEDS") == "1")
            {
                Console.WriteLine($"  {kind} test {test.Number} jitter {jitter * 1e6} µs: " + string.Join(' ', results.Select(r => r.ToString("0", CultureInfo.InvariantCulture))));
            }

            cells[kind] = Summary(results);
        }

        (string chrony, string ntpd) = published.TryGetValue((test.Number, jitter), out var p) ? p : ("", "");
        string jitterText = jitter >= 1e-3 ? $"{jitter * 1e3:0} ms" : $"{jitter * 1e6:0} µs";
        Console.WriteLine($"| {test.Number} | {jitterText} | {chrony} | {ntpd} | {cells.GetValueOrDefault(DisciplineKind.Adaptive, "")} | {cells.GetValueOrDefault(DisciplineKind.Classic, "")} | {floor} |");
    }
}

Console.WriteLine();
double real = clock.Elapsed.TotalSeconds;
Console.WriteLine($"({simulatedHours / 24:0} simulated client-days in {real:0.0} s of real time on {Environment.ProcessorCount} cores: {real * 1000 / (simulatedHours / 24) * Environment.ProcessorCount:0.0} ms of CPU per client-day)");
return 0;

static string Summary(double[] results)
{
    double mean = results.Average();
    double sd = Math.Sqrt(results.Sum(r => (r - mean) * (r - mean)) / Math.Max(1, results.Length - 1));
    return string.Create(CultureInfo.InvariantCulture, $"{mean:0}±{sd:0}");
}
