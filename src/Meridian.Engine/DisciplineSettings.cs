namespace Meridian.Engine;

/// <summary>
/// The <c>tinker</c> thresholds and the command-line switches that govern stepping and panicking; the same for
/// every discipline.
/// </summary>
public sealed record DisciplineSettings
{
    /// <summary>Offsets above this are stepped rather than slewed (<c>tinker step</c>, 0.128 s; <c>-x</c> makes it 600 s).</summary>
    public double StepThreshold { get; init; } = 0.128;

    /// <summary>How long an offset must stay above the step threshold before it is stepped (<c>tinker stepout</c>, 300 s).</summary>
    public double Stepout { get; init; } = 300;

    /// <summary>Offsets above this stop the daemon (<c>tinker panic</c>, 1000 s; 0 disables the check).</summary>
    public double PanicThreshold { get; init; } = 1000;

    /// <summary><c>-g</c>: the first correction may exceed the panic threshold.</summary>
    public bool AllowFirstPanic { get; init; }

    /// <summary><c>slewalways yes</c>: never step, however large the offset.</summary>
    public bool SlewAlways { get; init; }

    /// <summary>Largest frequency correction (500 ppm).</summary>
    public double MaxFrequency { get; init; } = 500e-6;

    /// <summary>The initial frequency, from the drift file, in seconds per second.</summary>
    public double? InitialFrequency { get; init; }
}

/// <summary>What a discipline did with an offset it was given.</summary>
public enum DisciplineAction
{
    /// <summary>Taken in: the clock will be slewed.</summary>
    Slewed,

    /// <summary>The clock was stepped.</summary>
    Stepped,

    /// <summary>Held back: a spike above the step threshold that has not lasted a stepout yet.</summary>
    Ignored,

    /// <summary>Above the panic threshold: the daemon must stop (unless -g allowed it once).</summary>
    Panic,
}
