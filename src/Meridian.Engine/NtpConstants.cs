namespace Meridian.Engine;

/// <summary>Protocol constants of RFC 5905 §7.2 and Appendix A that more than one part of the engine uses.</summary>
public static class NtpConstants
{
    /// <summary>Frequency tolerance: how fast dispersion grows, 15 ppm.</summary>
    public const double Phi = 15e-6;

    /// <summary>Smallest poll exponent a server echoes (16 s).</summary>
    public const int MinPoll = 4;

    /// <summary>Largest poll exponent (36 h).</summary>
    public const int MaxPoll = 17;

    /// <summary>minpoll and maxpoll when the configuration does not say (64 s and 1024 s).</summary>
    public const int DefaultMinPoll = 6;

    public const int DefaultMaxPoll = 10;

    /// <summary>Maximum dispersion, and the dispersion of an empty clock filter stage (16 s).</summary>
    public const double MaxDispersion = 16;

    /// <summary>Minimum dispersion increment (10 ms).</summary>
    public const double MinDispersion = 0.01;

    /// <summary>Floor of the root distance's delay term (ntpd's <c>tos mindist</c>, 1 ms).</summary>
    public const double MinDistance = 0.001;

    /// <summary>Distance threshold above which a source is not used (1.5 s).</summary>
    public const double MaxDistance = 1.5;

    /// <summary>Stages in the clock filter.</summary>
    public const int FilterStages = 8;

    /// <summary>The highest stratum a usable source can have.</summary>
    public const int MaxStratum = 15;
}
