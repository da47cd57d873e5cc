using System.Text;
using Meridian.Host;
using Meridian.Host.Native;

namespace Meridian.Host.Tests;

public sealed unsafe class SerialLineTests
{
    private const uint Isig = 0x1;
    private const uint Icanon = 0x2;
    private const uint Echo = 0x8;
    private const uint Csize = 0x30;
    private const uint Cs8 = 0x30;
    private const uint Parenb = 0x100;
    private const uint Icrnl = 0x100;
    private const uint Opost = 0x1;

    private static readonly byte[] Sentence =
        Encoding.ASCII.GetBytes("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n");

    [Fact]
    public void A_pty_slave_is_set_raw_at_the_speed_and_reads_what_the_master_writes()
    {
        using PseudoTerminal pty = PseudoTerminal.Open();
        Assert.StartsWith("/dev/pts/", pty.SlavePath);
        using SerialLine line = SerialLine.Open(pty.SlavePath, 9600);
        Assert.True(line.IsTerminal);
        Assert.True(line.IsOpen);

        Libc.Termios termios;
        Assert.Equal(0, Libc.TcGetAttr(line.Handle, &termios));
        uint? b9600 = SerialLine.SpeedCode(9600);
        Assert.Contains(b9600, new uint?[] { 13, 9600 }); // B9600 of termbits.h, or the rate itself (glibc >= 2.42)
        Assert.Equal(b9600, Libc.CfGetISpeed(&termios));
        Assert.Equal(b9600, Libc.CfGetOSpeed(&termios));
        Assert.Equal(0u, termios.LocalFlags & (Isig | Icanon | Echo));
        Assert.Equal(Cs8, termios.ControlFlags & Csize);
        Assert.Equal(0u, termios.ControlFlags & (Parenb | Libc.CSTOPB | Libc.CRTSCTS));
        Assert.Equal(Libc.CLOCAL | Libc.CREAD, termios.ControlFlags & (Libc.CLOCAL | Libc.CREAD));
        Assert.Equal(Libc.IGNBRK | Libc.IGNPAR, termios.InputFlags & (Libc.IGNBRK | Libc.IGNPAR | Icrnl));
        Assert.Equal(0u, termios.OutputFlags & Opost);
        Assert.Equal((1, 0), (termios.ControlCharacters[Libc.VMIN], termios.ControlCharacters[Libc.VTIME]));

        // Nothing waiting: 0 at once, and the line stays open.
        Assert.Equal(0, line.Read(new byte[64]));
        Assert.True(line.IsOpen);

        pty.Write(Sentence);
        Assert.Equal(Sentence, ReadAtLeast(line, Sentence.Length));
        Assert.True(line.IsOpen);
        Assert.Null(line.CloseReason);
    }

    [Fact]
    public void Closing_the_master_makes_reads_report_the_line_gone()
    {
        var pty = PseudoTerminal.Open();
        using SerialLine line = SerialLine.Open(pty.SlavePath, 115200);
        Assert.Equal(SerialLine.SpeedCode(115200), Speed(line));
        pty.Dispose();

        Assert.Equal(-1, line.Read(new byte[64]));
        Assert.False(line.IsOpen);
        Assert.StartsWith(pty.SlavePath + ": ", line.CloseReason);
        Assert.Equal(-1, line.Read(new byte[64]));
    }

    [Fact]
    public void A_missing_device_throws_with_the_path_and_the_errno_text()
    {
        string path = Path.Combine(Path.GetTempPath(), $"meridian-no-gps-{Guid.NewGuid():N}");
        var error = Assert.Throws<RefclockDeviceException>(() => SerialLine.Open(path, 4800));
        Assert.Equal(Libc.ENOENT, error.Errno);
        Assert.Equal($"{path}: No such file or directory", error.Message);
    }

    [Fact]
    public void An_unsupported_speed_is_refused_before_opening()
    {
        using PseudoTerminal pty = PseudoTerminal.Open();
        var error = Assert.Throws<RefclockDeviceException>(() => SerialLine.Open(pty.SlavePath, 1234));
        Assert.Equal(Libc.EINVAL, error.Errno);
        Assert.StartsWith($"{pty.SlavePath}: unsupported speed 1234 (", error.Message);
        Assert.Null(SerialLine.SpeedCode(300));

        int[] rates = [4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800];
        uint[] constants = [12, 13, 14, 15, 0x1001, 0x1002, 0x1003, 0x1004]; // B4800 ... B460800, termbits.h
        bool numeric = SerialLine.SpeedCode(9600) == 9600;
        for (int i = 0; i < rates.Length; i++)
        {
            Assert.Equal(numeric ? (uint)rates[i] : constants[i], SerialLine.SpeedCode(rates[i]));
        }
    }

    [Fact]
    public void A_regular_file_is_read_as_it_is_and_its_end_closes_the_line()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, Sentence);
            using SerialLine line = SerialLine.Open(path, 4800);
            Assert.False(line.IsTerminal);
            var buffer = new byte[256];
            Assert.Equal(Sentence.Length, line.Read(buffer));
            Assert.Equal(Sentence, buffer[..Sentence.Length]);
            Assert.Equal(-1, line.Read(buffer));
            Assert.False(line.IsOpen);
            Assert.Equal($"{path}: end of file", line.CloseReason);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Native_layouts_have_the_glibc_x86_64_sizes()
    {
        Assert.Equal(60, sizeof(Libc.Termios));
        Assert.Equal(16, sizeof(Libc.PpsKTime));
        Assert.Equal(48, sizeof(Libc.PpsKInfo));
        Assert.Equal(40, sizeof(Libc.PpsKParams));
        Assert.Equal(64, sizeof(Libc.PpsFData));
        Assert.Equal(112, sizeof(Libc.ShmidDs));
    }

    private static uint Speed(SerialLine line)
    {
        Libc.Termios termios;
        Assert.Equal(0, Libc.TcGetAttr(line.Handle, &termios));
        return Libc.CfGetISpeed(&termios);
    }

    /// <summary>The pty delivers from a kernel worker, so the bytes may arrive a moment after the write returned.</summary>
    private static byte[] ReadAtLeast(SerialLine line, int count)
    {
        var received = new List<byte>();
        var buffer = new byte[256];
        long deadline = Environment.TickCount64 + 5000;
        while (received.Count < count && Environment.TickCount64 < deadline)
        {
            var poll = new Libc.PollFd { Fd = line.Handle, Events = Libc.POLLIN };
            Libc.Poll(&poll, 1, 100);
            int read = line.Read(buffer);
            Assert.True(read >= 0, line.CloseReason);
            received.AddRange(buffer.AsSpan(0, read).ToArray());
        }

        return received.ToArray();
    }
}

public sealed unsafe class ShmSegmentTests
{
    private static int RandomKey() => 0x4D45_5200 + Random.Shared.Next(0x1_0000);

    [Fact]
    public void What_a_writer_writes_is_read_once_with_equal_counts()
    {
        int key = RandomKey();
        try
        {
            using ShmSegment writer = ShmSegment.Attach(key, ownerOnly: true);
            using ShmSegment reader = ShmSegment.Attach(key, ownerOnly: true, create: false);
            var copy = new byte[ShmSegment.Size];
            Assert.False(reader.TryRead(copy, out _, out _));

            var sample = new byte[ShmSegment.Size];
            for (int i = 0; i < sample.Length; i++)
            {
                sample[i] = (byte)(i + 1);
            }

            BitConverter.TryWriteBytes(sample.AsSpan(0), 1); // mode 1
            BitConverter.TryWriteBytes(sample.AsSpan(4), 1000); // count: the writer's own, not this
            BitConverter.TryWriteBytes(sample.AsSpan(48), 0); // valid: set by the writer last
            writer.Write(sample);

            Assert.True(reader.TryRead(copy, out int before, out int after));
            Assert.Equal((2, 2), (before, after));
            Assert.Equal(1, BitConverter.ToInt32(copy, 0));
            Assert.Equal(2, BitConverter.ToInt32(copy, 4));
            Assert.Equal(1, BitConverter.ToInt32(copy, 48));
            Assert.Equal(sample[8..48], copy[8..48]);
            Assert.Equal(sample[52..], copy[52..]);

            // valid was cleared: a second read finds nothing and copies nothing.
            var second = new byte[ShmSegment.Size];
            Assert.False(reader.TryRead(second, out _, out _));
            Assert.All(second, b => Assert.Equal(0, b));

            writer.Write(sample);
            Assert.True(reader.TryRead(copy, out before, out after));
            Assert.Equal((4, 4), (before, after));
        }
        finally
        {
            ShmSegment.Remove(key);
        }
    }

    [Theory]
    [InlineData(true, 0x180)] // 0600: ntpd's units 0 and 1
    [InlineData(false, 0x1B6)] // 0666: units 2 and up, which unprivileged writers use
    public void A_created_segment_has_the_mode_asked_for_and_96_bytes(bool ownerOnly, int mode)
    {
        int key = RandomKey();
        try
        {
            using ShmSegment segment = ShmSegment.Attach(key, ownerOnly);
            Assert.Equal(key, segment.Key);
            Libc.ShmidDs status;
            Assert.Equal(0, Libc.ShmCtl(segment.Id, Libc.IPC_STAT, &status));
            Assert.Equal(mode, status.Mode & 0x1FF);
            Assert.Equal(96u, (uint)status.SegmentSize);
        }
        finally
        {
            ShmSegment.Remove(key);
        }

        Assert.Equal(-1, Libc.ShmGet(key, 0, 0));
        ShmSegment.Remove(key); // none: nothing to do
    }

    [Fact]
    public void An_existing_segment_smaller_than_the_layout_is_refused_clearly()
    {
        int key = RandomKey();
        try
        {
            Assert.True(Libc.ShmGet(key, 80, Libc.IPC_CREAT | 0x180) >= 0);
            var error = Assert.Throws<RefclockDeviceException>(() => ShmSegment.Attach(key, ownerOnly: true));
            Assert.Equal(Libc.EINVAL, error.Errno);
            Assert.Equal($"shm 0x{key:x8}: the existing segment has 80 bytes, fewer than the 96 of ntpd's layout" +
                $" (remove it: ipcrm -M 0x{key:x8})", error.Message);
        }
        finally
        {
            ShmSegment.Remove(key);
        }
    }

    [Fact]
    public void Attaching_without_create_needs_the_segment()
    {
        int key = RandomKey();
        ShmSegment.Remove(key);
        var error = Assert.Throws<RefclockDeviceException>(() => ShmSegment.Attach(key, ownerOnly: false, create: false));
        Assert.Equal(Libc.ENOENT, error.Errno);
        Assert.Equal($"shm 0x{key:x8}: no such segment", error.Message);
    }

    [Fact]
    public void A_detached_segment_is_not_read()
    {
        int key = RandomKey();
        try
        {
            ShmSegment segment = ShmSegment.Attach(key, ownerOnly: true);
            segment.Dispose();
            segment.Dispose();
            Assert.Throws<ObjectDisposedException>(() => segment.TryRead(new byte[ShmSegment.Size], out _, out _));
        }
        finally
        {
            ShmSegment.Remove(key);
        }
    }
}

public sealed class PpsSourceTests
{
    [Fact]
    public void A_regular_file_is_not_a_pps_device()
    {
        string path = Path.GetTempFileName();
        try
        {
            var error = Assert.Throws<RefclockDeviceException>(() => PpsSource.Open(path));
            Assert.Equal(Libc.ENOTTY, error.Errno);
            Assert.Equal($"{path}: not a PPS device (Inappropriate ioctl for device)", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Dev_null_is_not_a_pps_device()
    {
        var error = Assert.Throws<RefclockDeviceException>(() => PpsSource.Open("/dev/null"));
        Assert.Equal("/dev/null: not a PPS device (Inappropriate ioctl for device)", error.Message);
    }

    [Fact]
    public void A_missing_pps_device_throws_with_the_path_and_the_errno_text()
    {
        string path = Enumerable.Range(0, 100).Select(n => $"/dev/pps{99 - n}").First(p => !File.Exists(p));
        var error = Assert.Throws<RefclockDeviceException>(() => PpsSource.Open(path));
        Assert.Equal(Libc.ENOENT, error.Errno);
        Assert.Equal($"{path}: No such file or directory", error.Message);
    }

    [Fact]
    public void Dev_pps0_when_present_reports_assert_capture_as_a_timespec()
    {
        // This machine has no PPS device; where one exists (pps-ktimer, a GPS on a serial line's DCD) it is checked.
        if (!File.Exists("/dev/pps0"))
        {
            return;
        }

        using PpsSource pps = PpsSource.Open("/dev/pps0");
        Assert.True(pps.IsOpen);
        Assert.Equal(Libc.PPS_CAPTUREASSERT | Libc.PPS_TSFMT_TSPEC,
            pps.Capabilities & (Libc.PPS_CAPTUREASSERT | Libc.PPS_TSFMT_TSPEC));
        pps.TryFetch(out _);
        Assert.True(pps.IsOpen);
    }
}
