package dev.berth.architecture;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The rules can fail: over berth's production classes plus three deliberate violations in this
 * module's test sources ({@code ..archfixture..}), each rule reports the violating class.
 */
class RulesCatchViolationsTest {
    private static JavaClasses withFixtures;

    @BeforeAll
    static void importProductionClassesAndFixtures() {
        withFixtures = new ClassFileImporter().importPackages("dev.berth");
    }

    @Test
    void aLowerModuleUsingTheDomainAboveItBreaksTheModuleTable() {
        assertCaught(ModuleLayeringTest.MODULES, "dev.berth.images.archfixture.ImagesReachingUp");
    }

    @Test
    void aDomainClassHoldingACriMessageIsCaught() {
        assertCaught(ModuleLayeringTest.NO_CRI_IN_THE_DOMAIN, "dev.berth.podsandbox.archfixture.DomainSpeakingCri");
    }

    @Test
    void anRpcHandlerStartingAProcessIsCaught() {
        assertCaught(CriLayerTest.STARTS_NO_PROCESS, "dev.berth.criserver.archfixture.RpcWithSideEffects");
    }

    @Test
    void anRpcHandlerWritingAFileIsCaught() {
        assertCaught(CriLayerTest.ONLY_THE_SOCKET_BINDER_TOUCHES_FILES, "dev.berth.criserver.archfixture.RpcWithSideEffects");
    }

    private static void assertCaught(ArchRule rule, String violator) {
        AssertionError e = assertThrows(AssertionError.class, () -> rule.check(withFixtures));
        assertTrue(e.getMessage().contains(violator), "the rule should name " + violator + ":\n" + e.getMessage());
        // and the production classes alone hold the rule: the violation is the fixture's
        rule.check(ProductionClasses.get());
    }
}
