namespace Meridian.Bench.Fuzz;

/// <summary>
/// The same harnesses under afl-fuzz (bench/fuzz/afl.sh): SharpFuzz feeds each input to a target of
/// <see cref="Targets.All"/> in-process, and afl's coverage of the instrumented Meridian assemblies steers the mutations
/// where the random mutator of <see cref="Fuzzer"/> goes blind. An exception escaping the target is afl's crash.
/// </summary>
public static class Afl
{
    /// <summary><c>fuzz afl TARGET</c>: run one target under afl-fuzz, or on standard input once to replay a crash.</summary>
    public static int Run(string name)
    {
        // In-process (afl's persistent mode): one runtime start for the whole run, the input as a stream. The target
        // is built inside the first call: instrumented code may run only once SharpFuzz has mapped afl's bitmap.
        FuzzTarget? target = null;
        var buffer = new MemoryStream();
        SharpFuzz.Fuzzer.Run(stream =>
        {
            target ??= Targets.All().SingleOrDefault(t => t.Name == name)
                ?? throw new ArgumentException($"no target {name}; targets: {string.Join(' ', Targets.All().Select(t => t.Name))}");
            buffer.SetLength(0);
            stream.CopyTo(buffer);
            target.Run(buffer.ToArray());
        });
        return 0;
    }

    /// <summary>
    /// <c>fuzz seeds DIR</c>: each target's built-in corpus as files DIR/TARGET/seed-NNN, the source of the seed
    /// corpus kept in bench/fuzz/corpus (afl's <c>-i</c>), so the two fuzzers start from the same inputs.
    /// </summary>
    public static int WriteSeeds(string directory, int maxBytes = 2048)
    {
        foreach (FuzzTarget target in Targets.All())
        {
            string folder = Path.Combine(directory, target.Name);
            Directory.CreateDirectory(folder);
            int n = 0;
            foreach (byte[] seed in target.Corpus.Where(s => s.Length is > 0 && s.Length <= maxBytes))
            {
                File.WriteAllBytes(Path.Combine(folder, $"seed-{n++:000}"), seed);
            }

            Console.WriteLine($"{target.Name}: {n} seeds");
        }

        return 0;
    }
}
