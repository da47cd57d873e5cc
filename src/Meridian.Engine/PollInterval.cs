namespace Meridian.Engine;

/// <summary>
/// The system poll exponent within the system peer's minpoll and maxpoll, which both disciplines adjust by their own
/// rules: every value set is kept within the limits, and new limits pull the current value into them.
/// </summary>
public sealed class PollInterval
{
    private int _exponent = NtpConstants.DefaultMinPoll;

    public int Min { get; private set; } = NtpConstants.DefaultMinPoll;

    public int Max { get; private set; } = NtpConstants.DefaultMaxPoll;

    public int Exponent
    {
        get => _exponent;
        set => _exponent = Math.Clamp(value, Min, Max);
    }

    public void SetLimits(int min, int max)
    {
        Min = min;
        Max = Math.Max(min, max);
        Exponent = _exponent;
    }

    /// <summary>Back to minpoll (after a step, when fresh samples matter most).</summary>
    public void Reset() => _exponent = Min;
}
