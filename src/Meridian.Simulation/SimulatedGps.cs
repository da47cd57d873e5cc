using System.Globalization;
using System.Text;
using Meridian.Engine;
using Meridian.Engine.Refclocks;
using Meridian.Protocol;

namespace Meridian.Simulation;

/// <summary>
/// A GPS receiver on a simulated host: at every true second it raises a PPS edge (captured by the host's clock,
/// with the edge's jitter) and some time later its serial line delivers the sentences naming that second, and it
/// writes a gpsd-style shared-memory segment. The devices it offers are what the host's drivers open.
/// </summary>
public sealed class SimulatedGps : IRefclockDevices
{
    private readonly VirtualTime _time;
    private readonly IClock _hostClock;
    private readonly Random _random;
    private readonly List<RefclockDataHandler> _listeners = [];
    private readonly byte[] _segment = new byte[ShmTime.Size];
    private PpsCapture _lastEdge;
    private PpsCapture _lastClear;
    private int _count;

    public SimulatedGps(VirtualTime time, IClock hostClock, int seed)
    {
        _time = time;
        _hostClock = hostClock;
        _random = new Random(seed);
        // Every true second: the pulse, then the sentences, then the segment.
        _time.Every(1, Math.Ceiling(time.Now), Second);
    }

    public string DevicePath { get; init; } = "/dev/gps0";

    public string PpsPath { get; init; } = "/dev/gpspps0";

    public int ShmKey { get; init; } = ShmDriver.KeyBase;

    /// <summary>When the sentence's end reaches the host after the second begins, seconds (seed 003: 0.726).</summary>
    public double SentenceDelay { get; set; } = 0.2;

    /// <summary>The serial timing's spread (uniform, ± seconds): interrupts and the receiver's own scheduling.</summary>
    public double SentenceJitter { get; set; } = 0.002;

    /// <summary>The PPS capture's spread (uniform, ± seconds).</summary>
    public double PpsJitter { get; set; } = 0.000002;

    /// <summary>How wide the pulse is: its clear edge follows the assert edge by this much.</summary>
    public double PulseWidth { get; set; } = 0.1;

    /// <summary>The receiver has a fix: its sentences say A (valid), else V.</summary>
    public bool Fix { get; set; } = true;

    /// <summary>The receiver is plugged in; unplugged, nothing arrives and its devices vanish.</summary>
    public bool Online { get; set; } = true;

    /// <summary>How far the receiver's time is off true time (a bad receiver), seconds.</summary>
    public double Error { get; set; }

    /// <summary>Sentences it sends each second (RMC by default; GGA, ZDA as asked).</summary>
    public string[] Sentences { get; set; } = ["RMC"];

    public long LinesSent { get; private set; }

    public IRefclockLine? OpenLine(string path, int baud, RefclockDataHandler receive, out string? error)
    {
        if (!Online || path != DevicePath)
        {
            error = $"{path}: No such file or directory";
            return null;
        }

        error = null;
        _listeners.Add(receive);
        return new Line(this, receive);
    }

    public IPpsSource? OpenPps(string path, out string? error)
    {
        if (!Online || path != PpsPath)
        {
            error = $"{path}: No such file or directory";
            return null;
        }

        error = null;
        return new Pps(this);
    }

    public IShmSegment? AttachShm(int key, bool ownerOnly, out string? error)
    {
        if (key != ShmKey)
        {
            error = $"no segment 0x{key:X8}";
            return null;
        }

        error = null;
        return new Segment(this);
    }

    private void Second()
    {
        if (!Online)
        {
            return;
        }

        double second = Math.Round(_time.Now);
        double assert = (_random.NextDouble() * 2 - 1) * PpsJitter;
        _time.After(Math.Max(0, assert), () => _lastEdge = new PpsCapture(_lastEdge.Sequence + 1, _hostClock.Now()));
        _time.After(PulseWidth + Math.Max(0, assert), () => _lastClear = new PpsCapture(_lastClear.Sequence + 1, _hostClock.Now()));
        DateTime named = (_time.Utc(second) + NtpDuration.FromSeconds(Error)).ToDateTime();
        named = new DateTime(named.Ticks - named.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        double delay = SentenceDelay + (_random.NextDouble() * 2 - 1) * SentenceJitter;
        byte[] bytes = Encoding.ASCII.GetBytes(string.Concat(Sentences.Select(s => Sentence(s, named) + "\r\n")));
        _time.After(Math.Max(0.001, delay), () =>
        {
            if (!Online)
            {
                return;
            }

            LinesSent += Sentences.Length;
            NtpTimestamp arrival = _hostClock.Now();
            foreach (RefclockDataHandler listener in _listeners.ToArray())
            {
                listener(bytes, arrival);
            }
        });

        // gpsd's way: the time of the fix and the host's time when it was read, mode 1 with the count handshake.
        _time.After(Math.Max(0.001, delay), () =>
        {
            NtpTimestamp local = _hostClock.Now();
            long unixNanos = NtpTimestamp.FromDateTime(named).ToUnixNanoseconds();
            long localNanos = local.ToUnixNanoseconds();
            _count += 2;
            new ShmTime
            {
                Mode = 1, Count = _count, Valid = 1, Leap = Fix ? 0 : 3, Precision = -1, Samples = 3,
                ClockSeconds = unixNanos / 1_000_000_000, ClockMicroseconds = (int)(unixNanos % 1_000_000_000 / 1000), ClockNanoseconds = (uint)(unixNanos % 1_000_000_000),
                ReceiveSeconds = localNanos / 1_000_000_000, ReceiveMicroseconds = (int)(localNanos % 1_000_000_000 / 1000), ReceiveNanoseconds = (uint)(localNanos % 1_000_000_000),
            }.Write(_segment);
        });
    }

    /// <summary>One sentence naming <paramref name="utc"/>, with its checksum.</summary>
    public string Sentence(string kind, DateTime utc)
    {
        string hms = utc.ToString("HHmmss.ff", CultureInfo.InvariantCulture);
        string body = kind switch
        {
            "GGA" => $"GPGGA,{hms},4807.038,N,01131.000,E,{(Fix ? 1 : 0)},08,0.9,545.4,M,46.9,M,,",
            "ZDA" => $"GPZDA,{hms},{utc:dd},{utc:MM},{utc:yyyy},00,00",
            _ => $"GPRMC,{hms},{(Fix ? 'A' : 'V')},4807.038,N,01131.000,E,022.4,084.4,{utc:ddMMyy},003.1,W",
        };
        return Checksummed(body);
    }

    public static string Checksummed(string body)
    {
        byte sum = 0;
        foreach (char c in body)
        {
            sum ^= (byte)c;
        }

        return $"${body}*{sum:X2}";
    }

    private sealed class Line(SimulatedGps gps, RefclockDataHandler receive) : IRefclockLine
    {
        public bool IsOpen => gps.Online;

        public void Dispose() => gps._listeners.Remove(receive);
    }

    private sealed class Pps(SimulatedGps gps) : IPpsSource
    {
        private bool _clear;

        public bool IsOpen => gps.Online;

        public bool Configure(bool clearEdge, out string? error)
        {
            _clear = clearEdge;
            error = null;
            return true;
        }

        public bool TryFetch(out PpsCapture capture)
        {
            capture = _clear ? gps._lastClear : gps._lastEdge;
            return capture.Sequence != 0;
        }

        public void Dispose()
        {
        }
    }

    private sealed class Segment(SimulatedGps gps) : IShmSegment
    {
        public bool TryRead(Span<byte> copy, out int countBefore, out int countAfter)
        {
            countBefore = countAfter = gps._count;
            if (BitConverter.ToInt32(gps._segment, ShmTime.ValidOffset) == 0)
            {
                return false;
            }

            gps._segment.CopyTo(copy);
            BitConverter.TryWriteBytes(gps._segment.AsSpan(ShmTime.ValidOffset), 0);
            return true;
        }

        public void Dispose()
        {
        }
    }
}
