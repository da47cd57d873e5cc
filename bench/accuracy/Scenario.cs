using System.Net;
using Meridian.Engine;
using Meridian.Simulation;

namespace Meridian.Bench.Accuracy;

/// <summary>One of the client-accuracy tests of chrony's comparison page, rebuilt on our simulator.</summary>
public sealed record AccuracyTest(int Number, string Title, double Wander, int MinPoll, int MaxPoll, (double Period, double Up)? Availability, double Hours, double WarmupHours)
{
    public static readonly AccuracyTest[] All =
    [
        new(1, "one server, default polling, wander 1 ppb/s", 1e-9, 6, 10, null, 12, 2),
        new(2, "polling fixed at 64 s, wander 10 ppb/s", 10e-9, 6, 6, null, 6, 1),
        new(3, "network up 30 min per 24 h, wander 1 ppb/s", 1e-9, 6, 10, (86400, 1800), 72, 24),
    ];

    public static bool Trace { get; set; }

    /// <summary>The client's clock precision (log2 s): it floors ntpd's clock jitter, and so its poll adjustment.</summary>
    public static sbyte Precision { get; set; } = -20;

    /// <summary>Runs one client against one perfect server and returns the RMS of the client's true error after warm-up.</summary>
    public double Run(double jitter, DisciplineKind discipline, int seed) => Measure(jitter, discipline, seed).Client;

    /// <summary>
    /// The same run, also measuring an oracle that knows the clock's true phase and frequency exactly whenever the
    /// network is up and free-runs on them while it is down: no discipline can do better, so its RMS is the floor
    /// the outages of Test 3 impose.
    /// </summary>
    public (double Client, double Oracle) Measure(double jitter, DisciplineKind discipline, int seed)
    {
        var time = new VirtualTime();
        var random = new Random(seed);
        var network = new SimulatedNetwork(time, new Random(seed * 7 + 1))
        {
            DefaultLink = new LinkModel { BaseDelay = 0.0001, Jitter = jitter, Availability = Availability },
        };
        var serverAddress = IPAddress.Parse("198.18.0.1");
        var server = new ReferenceServer(serverAddress, time, network);
        network.Attach(server);

        var clockModel = new ClockModel
        {
            // Start close (as after a previous run with a drift file): the tests measure steady state.
            InitialOffset = (random.NextDouble() - 0.5) * 2e-4,
            InitialFrequency = (random.NextDouble() - 0.5) * 2e-7,
            Wander = Wander,
        };
        var settings = new EngineSettings
        {
            Discipline = discipline,
            Limits = new DisciplineSettings { InitialFrequency = 0 },
            Precision = Precision,
        };
        var client = new SimulatedNode(IPAddress.Parse("198.18.0.2"), time, network, clockModel, settings, seed);
        network.Attach(client);
        client.AddServer(serverAddress, s => s with { MinPoll = MinPoll, MaxPoll = MaxPoll, Iburst = true });

        double sum = 0;
        double oracleSum = 0;
        double oracleError = 0;
        double frequencyAtLoss = 0;
        long count = 0;
        double warmup = WarmupHours * 3600;
        double end = Hours * 3600;
        time.Every(1, 0, () =>
        {
            double free = client.Clock.FrequencyError;
            if (network.DefaultLink.IsUp(time.Now))
            {
                oracleError = 0;
                frequencyAtLoss = free;
            }
            else
            {
                oracleError += free - frequencyAtLoss;
            }

            if (time.Now >= warmup)
            {
                double e = client.Clock.Error;
                sum += e * e;
                oracleSum += oracleError * oracleError;
                count++;
            }
        });
        if (Trace)
        {
            time.Every(64, 0.5, () =>
            {
                var d = client.Engine.Discipline;
                var a = client.Engine.Associations[0];
                Console.WriteLine($"t={time.Now,7:0} err={client.Clock.Error * 1e6,9:0.0}us corr={client.Clock.Correction * 1e9,9:0.0}ppb truefreq={client.Clock.FrequencyError * 1e9,9:0.0}ppb est={d.Frequency * 1e9,9:0.0} resid={d.ResidualOffset * 1e6,8:0.0} poll={d.PollExponent} hpoll={a.HostPoll} reach={Convert.ToString(a.Reach, 8)} off={a.Filter.Offset * 1e6,8:0.0} sd={(d as AdaptiveDiscipline)?.PhaseUncertainty * 1e6:0.0} wander={d.Wander:0e0} peer={client.Engine.SystemPeer?.Id}");
            });
        }

        time.RunUntil(end);
        return (Math.Sqrt(sum / Math.Max(1, count)), Math.Sqrt(oracleSum / Math.Max(1, count)));
    }
}
