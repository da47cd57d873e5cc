using System.Diagnostics;

namespace Meridian.Bench.Fuzz;

/// <summary>A parser under test: a seed corpus and what to do with one input (throwing means a crash).</summary>
public sealed record FuzzTarget(string Name, IReadOnlyList<byte[]> Corpus, Action<byte[]> Run);

/// <summary>What a fuzzing run did: inputs run, crashes, and the first crashing input with its exception.</summary>
public sealed record FuzzResult(string Target, long Inputs, long Crashes, TimeSpan Elapsed, string? FirstCrash)
{
    public double PerSecond => Inputs / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>Runs a target on its corpus and then on mutations of it, for a bounded time and number of inputs.</summary>
public static class Fuzzer
{
    public static FuzzResult Run(FuzzTarget target, TimeSpan budget, int seed, long maxInputs = long.MaxValue)
    {
        var mutator = new Mutator(seed);
        var clock = Stopwatch.StartNew();
        long inputs = 0;
        long crashes = 0;
        string? first = null;
        foreach (byte[] input in target.Corpus)
        {
            Try(input);
        }

        while (clock.Elapsed < budget && inputs < maxInputs)
        {
            for (int i = 0; i < 256; i++)
            {
                Try(mutator.Mutate(target.Corpus));
            }
        }

        return new FuzzResult(target.Name, inputs, crashes, clock.Elapsed, first);

        void Try(byte[] input)
        {
            inputs++;
            try
            {
                target.Run(input);
            }
            catch (Exception e)
            {
                crashes++;
                first ??= $"{e.GetType().Name}: {e.Message} on {Convert.ToHexString(input)}";
            }
        }
    }
}
