namespace Meridian.Daemon.Tests;

public sealed class SetOnceTests
{
    [Theory]
    [InlineData(0.3, 0.128, true)]
    [InlineData(0.3, 0.5, false)]
    [InlineData(-0.3, 0.128, true)]
    [InlineData(0.1, 0.128, false)]
    [InlineData(900, 600, true)]
    [InlineData(5, 0, false)]
    public void Minus_q_steps_beyond_the_step_threshold_and_slews_within(double offset, double threshold, bool steps) =>
        Assert.Equal(steps, SetOnce.Steps(offset, threshold));
}
