using System.Globalization;

namespace Meridian.Bench.Fuzz;

/// <summary>
/// <c>dotnet run --project bench/fuzz -c Release -- [--seconds N] [--seed S] [target...]</c>: fuzzes each parser for N
/// seconds (default 60) and prints inputs run, rate and crashes; exits 1 if anything crashed. <c>afl TARGET</c> and
/// <c>seeds DIR</c> are the coverage-guided mode of <see cref="Afl"/>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        switch (args)
        {
            case ["afl", string name]:
                return Afl.Run(name);
            case ["seeds", string directory]:
                return Afl.WriteSeeds(directory);
        }

        double seconds = 60;
        int seed = Environment.TickCount;
        var wanted = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds" when i + 1 < args.Length:
                    seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--seed" when i + 1 < args.Length:
                    seed = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    wanted.Add(args[i]);
                    break;
            }
        }

        Console.WriteLine($"fuzz: seed {seed}, {seconds} s per target");
        Console.WriteLine("target        inputs        per s   crashes");
        long crashes = 0;
        foreach (FuzzTarget target in Targets.All().Where(t => wanted.Count == 0 || wanted.Contains(t.Name)))
        {
            FuzzResult result = Fuzzer.Run(target, TimeSpan.FromSeconds(seconds), seed);
            crashes += result.Crashes;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Target,-10} {result.Inputs,10} {result.PerSecond,12:0} {result.Crashes,9}"));
            if (result.FirstCrash is not null)
            {
                Console.WriteLine("  first crash: " + result.FirstCrash);
            }
        }

        return crashes == 0 ? 0 : 1;
    }
}
