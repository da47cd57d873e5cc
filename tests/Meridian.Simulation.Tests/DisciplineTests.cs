using Meridian.Engine;
using Meridian.Protocol;
using Meridian.Simulation;

namespace Meridian.Simulation.Tests;

public sealed class ConvergenceTests
{
    [Theory]
    [InlineData(DisciplineKind.Adaptive, 2)]
    [InlineData(DisciplineKind.Classic, 12)] // ntpd's loop, without a drift file, takes hours
    public void A_clock_50_ms_and_20_ppm_off_converges_below_1_ms_and_stays(DisciplineKind discipline, double hours)
    {
        var lab = new Lab(seed: 3);
        var server = lab.Server();
        var node = lab.Node(new ClockModel { InitialOffset = 0.050, InitialFrequency = 20e-6, Wander = 1e-9 }, new EngineSettings { Discipline = discipline });
        node.AddServer(server.Address, s => s with { Iburst = true });

        lab.Run(hours * 3600);
        double worst = 0;
        lab.Run(3600, 16, () => worst = Math.Max(worst, Math.Abs(node.Clock.Error)));

        Assert.Equal(0, node.Clock.Steps); // 50 ms is below the step threshold: slewed
        Assert.True(worst < 0.001, $"worst error in the last hour {worst * 1e3:0.000} ms");
        Assert.True(Math.Abs(node.Clock.Correction + node.Clock.FrequencyError) < 1e-6, "the frequency error is compensated");
        Assert.Equal(2, node.Engine.State.Stratum);
        Assert.Equal(LeapIndicator.NoWarning, node.Engine.State.Leap);
    }

    [Theory]
    [InlineData(DisciplineKind.Adaptive)]
    [InlineData(DisciplineKind.Classic)]
    public void Iburst_synchronizes_a_fresh_client_within_10_seconds(DisciplineKind discipline)
    {
        var lab = new Lab(seed: 5);
        var server = lab.Server();
        // A drift file is present, as it is after the first run (the classic loop otherwise measures frequency for 300 s first).
        var node = lab.Node(new ClockModel { InitialOffset = 0.003 }, new EngineSettings { Discipline = discipline, Limits = new DisciplineSettings { InitialFrequency = 0 } });
        node.AddServer(server.Address, s => s with { Iburst = true });

        double? took = lab.RunUntil(() => node.Engine.State.IsSynchronized, within: 60);

        Assert.NotNull(took);
        Assert.True(took <= 10, $"synchronized after {took} s");
    }

    [Fact]
    public void Without_iburst_the_first_samples_come_one_poll_apart()
    {
        var lab = new Lab(seed: 5);
        var server = lab.Server();
        var node = lab.Node(settings: new EngineSettings { Limits = new DisciplineSettings { InitialFrequency = 0 } });
        node.AddServer(server.Address);

        double? took = lab.RunUntil(() => node.Engine.State.IsSynchronized, within: 1200);

        Assert.True(took > 64, $"synchronized after {took} s");
    }
}

public sealed class StepAndPanicTests
{
    private static (Lab Lab, ReferenceServer Server, SimulatedNode Node) Start(double offset, DisciplineSettings limits, DisciplineKind discipline = DisciplineKind.Adaptive)
    {
        var lab = new Lab(seed: 9);
        var server = lab.Server();
        var node = lab.Node(new ClockModel { InitialOffset = offset }, new EngineSettings { Discipline = discipline, Limits = limits });
        node.AddServer(server.Address, s => s with { Iburst = true });
        return (lab, server, node);
    }

    [Theory]
    [InlineData(DisciplineKind.Adaptive)]
    [InlineData(DisciplineKind.Classic)]
    public void Offsets_above_128_ms_are_stepped_at_start(DisciplineKind discipline)
    {
        var (lab, _, node) = Start(-0.2, new DisciplineSettings(), discipline);
        lab.Run(120);
        Assert.Equal(1, node.Clock.Steps);
        Assert.True(Math.Abs(node.Clock.Error) < 0.001, $"error {node.Clock.Error}");
        EngineEvent step = Assert.Single(node.Log, e => e.Message.StartsWith("step time server 198.18.0.1 offset +0.", StringComparison.Ordinal));
        Assert.Matches(@"^step time server 198\.18\.0\.1 offset \+0\.19\d{4} sec$", step.Message);
    }

    [Fact]
    public void Offsets_below_128_ms_are_slewed()
    {
        var (lab, _, node) = Start(0.1, new DisciplineSettings());
        lab.Run(1800);
        Assert.Equal(0, node.Clock.Steps);
        Assert.True(Math.Abs(node.Clock.Error) < 0.001);
    }

    [Fact]
    public void Minus_x_raises_the_step_threshold_to_600_s()
    {
        var (lab, _, node) = Start(0.2, new DisciplineSettings { StepThreshold = 600 });
        lab.Run(600);
        Assert.Equal(0, node.Clock.Steps);
    }

    [Fact]
    public void Slewalways_never_steps()
    {
        var (lab, _, node) = Start(5, new DisciplineSettings { SlewAlways = true });
        lab.Run(600);
        Assert.Equal(0, node.Clock.Steps);
        Assert.True(node.Clock.Error < 5 - 0.2, "500 ppm of slew for ten minutes");
    }

    [Fact]
    public void A_spike_is_ignored_but_a_lasting_offset_is_stepped_after_the_stepout()
    {
        var (lab, server, node) = Start(0, new DisciplineSettings());
        lab.Run(3600);
        Assert.Equal(0, node.Clock.Steps);

        server.Offset = 0.5; // the server's time jumps and stays
        double? took = lab.RunUntil(() => node.Clock.Steps > 0, within: 3600);

        Assert.NotNull(took);
        Assert.True(took >= 300, $"stepped after {took} s, before the 300 s stepout");
        Assert.True(Math.Abs(node.Clock.Error - 0.5) < 0.002);
    }

    [Fact]
    public void Above_1000_s_the_daemon_stops()
    {
        var (lab, _, node) = Start(-2000, new DisciplineSettings());
        lab.Run(120);
        Assert.True(node.Exited);
        Assert.Equal(0, node.Clock.Steps);
        Assert.Contains(node.Log, e => e.Message == "time correction of 2000 seconds exceeds sanity limit (1000); set clock manually to the correct UTC time.");
    }

    [Theory]
    [InlineData(true, 1000)]
    [InlineData(false, 0)]
    public void Minus_g_or_tinker_panic_0_allow_the_big_step(bool allowFirst, double panic)
    {
        var (lab, _, node) = Start(-2000, new DisciplineSettings { AllowFirstPanic = allowFirst, PanicThreshold = panic });
        lab.Run(120);
        Assert.False(node.Exited);
        Assert.Equal(1, node.Clock.Steps);
        Assert.True(Math.Abs(node.Clock.Error) < 0.001);
    }

    [Fact]
    public void Minus_g_allows_only_the_first_correction()
    {
        var (lab, server, node) = Start(-2000, new DisciplineSettings { AllowFirstPanic = true });
        lab.Run(600);
        server.Offset = 5000;

        // The jump first makes the source unfit (its filter jitter soars); once the filter holds only the new
        // offset, the correction is due, and it is above the panic threshold.
        lab.Run(4 * 3600);
        Assert.True(node.Exited);
        Assert.Contains(node.Log, e => e.Message.StartsWith("time correction of 5000 seconds exceeds sanity limit", StringComparison.Ordinal));
    }
}
