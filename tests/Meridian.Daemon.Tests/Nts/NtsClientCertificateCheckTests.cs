using Meridian.Config;
using Meridian.Host.Nts;

namespace Meridian.Daemon.Tests.Nts;

/// <summary>The certificate check our NTS-KE client asks for: nocerttimecheck counts clock updates, noval skips it all.</summary>
public sealed class NtsClientCertificateCheckTests
{
    [Theory]
    [InlineData(3, 0, true)]
    [InlineData(3, 2, true)]
    [InlineData(3, 3, false)]
    [InlineData(3, 40, false)]
    [InlineData(0, 0, false)]
    public void Nocerttimecheck_skips_the_dates_only_before_N_clock_updates(int n, long updates, bool skipped)
    {
        NtsKeClientOptions options = NtsClient.ClientOptions(new NtsConfig { NoCertTimeCheck = n, CertificateAuthorities = "/ca.pem" }, noval: false, updates);
        Assert.Equal((skipped, false, "/ca.pem"), (options.SkipDateCheck, options.SkipVerification, options.CaFile));
    }

    [Fact]
    public void Noval_skips_the_whole_check_and_leaves_the_dates_to_nocerttimecheck()
    {
        NtsKeClientOptions options = NtsClient.ClientOptions(new NtsConfig(), noval: true, 0);
        Assert.Equal((false, true), (options.SkipDateCheck, options.SkipVerification));
    }
}
